"""Counting input faults by kind, with a rate limit on the log line each one deserves.

The node and the bag tool meet the same bad data (broken encodings, missing calibration, stale
clouds); both count it here so the diagnostics and the bag report use the same names: the one
table of fault and skip reasons is `FAULT_KINDS`.
"""
from collections import Counter
from collections.abc import Callable
import threading
import time

# Every fault kind the node counts, with what it means. docs/reliability.md names each one in its
# fault tables and a test checks both ways (code -> this table -> docs), so neither can drift.
FAULT_KINDS: dict[str, str] = {
    'image': 'an image that cannot be decoded or is too large; dropped',
    'image_stamp_zero': 'an image stamp of zero or below; processed',
    'image_stamp_order': 'an image stamp that did not increase; processed, the temporal fit restarts',
    'image_size_change': 'the image size changed; processed at the new size',
    'image_frame_id': 'an image with an empty frame_id; processed',
    'camera_info': 'a camera_info that cannot be used (all-zero K, unknown distortion); refused',
    'camera_info_wait': 'an image replaced by a newer one while it waited for its camera_info; dropped',
    'camera_info_missing': 'no camera_info within camera_info_timeout_s; relative depth only',
    'camera_info_unmatched': 'camera_info flows but none has the stamp of this image; relative depth only',
    'image_overtaken': 'an image that waited for its camera_info while a newer one went out; dropped, '
                       'never published out of order',
    'camera_info_size': 'the camera_info of this stamp is for another image size; relative depth only',
    'points': 'a point cloud that cannot be read; refused',
    'points_empty': 'a point cloud with no finite point; refused',
    'points_frame_id': 'a point cloud with an empty frame_id; refused',
    'points_missing': 'no cloud close enough to the image stamp; no fit for that frame',
    'tf': 'a transform on /tf or /tf_static that cannot be used; skipped',
    'alignment': 'the fit failed for a frame; no metres (or the held fit)',
    'frame': 'the pipeline refused a frame (too thin for the model); dropped',
    'cuda_out_of_memory': 'CUDA out of memory; processing_res stepped down',
    'pipeline_error': 'an unexpected error in the pipeline; frame dropped',
    'publish_error': 'an output message failed to build; frame dropped',
    'cloud_max_points': 'a cloud above cloud_max_points; not published',
    'navigation_frame': 'no transform to obstacle_frame at the image stamp; depth/obstacles not published',
}


# The reasons a frame is dropped (the node) or skipped (the bag tool), shared by both.
IMAGE = 'image'
FRAME = 'frame'
PIPELINE_ERROR = 'pipeline_error'
IMAGE_OVERTAKEN = 'image_overtaken'


def dropped(error: object) -> str:
    """The log sentence of a frame dropped for `error`."""
    return f'{error}; frame dropped'


class FaultCounters:
    """Per-kind counters, the last message per kind, and a per-kind log throttle."""

    def __init__(self, throttle_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.throttle_s = throttle_s
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._last_message: dict[str, str] = {}
        self._last_seen: dict[str, float] = {}
        self._last_logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, kind: str, message: str) -> bool:
        """Count one fault; returns True when its log line is due (first time, or after the throttle)."""
        now = self._clock()
        with self._lock:
            self._counts[kind] += 1
            self._last_message[kind] = message
            self._last_seen[kind] = now
            last = self._last_logged.get(kind)
            if last is None or now - last >= self.throttle_s:
                self._last_logged[kind] = now
                return True
            return False

    def count(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def last_messages(self) -> dict[str, str]:
        with self._lock:
            return dict(self._last_message)

    def recent(self, window_s: float) -> set[str]:
        """Kinds seen within the last window_s seconds (a fault long past is history, not a state)."""
        now = self._clock()
        with self._lock:
            return {kind for kind, seen in self._last_seen.items() if now - seen <= window_s}

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
