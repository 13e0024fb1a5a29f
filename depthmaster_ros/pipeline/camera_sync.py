"""Pairing each image with the camera_info of its own stamp, as message_filters' synchronisers do.

A camera_info describes one image: the newest one may belong to another stream, size or calibration.
So an image takes only the camera_info whose stamp is within `slop_ns` of its own. The node lets an
image wait (a few images, at most `timeout_s`) for its camera_info; the bag tool, which reads ahead,
only looks the stamp up. An image with no matching camera_info gets relative depth only.
"""
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
import time
from typing import Any

from depthmaster_ros.geometry import CameraModel

# fault kinds an unpaired image is counted under
CAMERA_INFO = 'camera_info'                    # the camera_info of this stamp was refused (bag tool, per image)
CAMERA_INFO_WAIT = 'camera_info_wait'          # dropped: a newer image replaced it while it waited
CAMERA_INFO_MISSING = 'camera_info_missing'    # no camera_info arrived within camera_info_timeout_s
CAMERA_INFO_UNMATCHED = 'camera_info_unmatched'  # camera_info flows, but none has this image's stamp


@dataclass
class Paired:
    """An image released by the synchroniser: its camera (None = relative only) and, if unpaired, why."""
    item: Any
    camera: CameraModel | None
    fault: str = ''            # one of the kinds above, '' when paired
    reason: str = ''
    dropped: bool = False      # True: do not process it (replaced while waiting)


@dataclass
class _Info:
    stamp_ns: int
    camera: CameraModel | None   # None: the camera_info was refused (its image gets relative depth only)
    error: str


@dataclass
class _Waiting:
    stamp_ns: int
    item: Any
    since: float


class CameraInfoSync:
    """A short buffer of camera_infos and of images waiting for theirs (thread-unsafe: one caller)."""

    def __init__(self, slop_s: float, timeout_s: float, info_capacity: int = 30, image_capacity: int = 4,
                 clock: Callable[[], float] = time.monotonic):
        self.slop_ns = int(round(slop_s * 1e9))
        self.timeout_s = timeout_s
        self._infos: deque[_Info] = deque(maxlen=info_capacity)
        self._waiting: deque[_Waiting] = deque()
        self._image_capacity = image_capacity
        self._clock = clock
        self._first_image: float | None = None
        self._last_info: float | None = None

    def configure(self, slop_s: float, timeout_s: float) -> None:
        self.slop_ns, self.timeout_s = int(round(slop_s * 1e9)), timeout_s

    # lookup (node and bag) ------------------------------------------------------------------------
    def match(self, stamp_ns: int) -> tuple[CameraModel | None, str] | None:
        """(camera or None when refused, refusal) of the camera_info nearest stamp_ns within the slop; None if none."""
        best = min(self._infos, key=lambda info: abs(info.stamp_ns - stamp_ns), default=None)
        if best is None or abs(best.stamp_ns - stamp_ns) > self.slop_ns:
            return None
        return best.camera, best.error

    def lookup(self, item: Any, stamp_ns: int) -> Paired:
        """The image paired with the camera_info of its stamp, or unpaired and why (the bag tool reads ahead)."""
        found = self.match(stamp_ns)
        if found is None:
            return Paired(item, None, CAMERA_INFO_UNMATCHED, _unmatched(stamp_ns))
        camera, error = found
        return Paired(item, camera) if camera is not None else Paired(item, None, CAMERA_INFO, error)

    def add_info(self, stamp_ns: int, camera: CameraModel | None, error: str = '') -> list[Paired]:
        """Store a camera_info (None with the error when it was refused); returns the images it settles."""
        self._infos.append(_Info(stamp_ns, camera, error))
        self._last_info = self._clock()
        released: list[Paired] = []
        still: deque[_Waiting] = deque()
        for waiting in self._waiting:
            found = self.match(waiting.stamp_ns)
            if found is not None:
                released.append(self._paired(waiting.item, waiting.stamp_ns, found))
            elif waiting.stamp_ns < stamp_ns - self.slop_ns:    # infos come in stamp order: its own was lost
                released.append(Paired(waiting.item, None, CAMERA_INFO_UNMATCHED, _unmatched(waiting.stamp_ns)))
            else:
                still.append(waiting)
        self._waiting = still
        return released

    # the node's waiting images --------------------------------------------------------------------
    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def add_image(self, item: Any, stamp_ns: int, wait: bool = True) -> list[Paired]:
        """Pair the image now, or keep it until its camera_info comes (wait=False: never keep it)."""
        now = self._clock()
        if self._first_image is None:
            self._first_image = now
        found = self.match(stamp_ns)
        if found is not None:
            return [self._paired(item, stamp_ns, found)]
        if not wait:
            return [Paired(item, None)]
        newest = max((info.stamp_ns for info in self._infos), default=None)
        if newest is not None and newest > stamp_ns + self.slop_ns and self._expecting(now):
            return [Paired(item, None, CAMERA_INFO_UNMATCHED, _unmatched(stamp_ns))]
        if not self._expecting(now):
            return [Paired(item, None, CAMERA_INFO_MISSING, self._missing_reason())]
        self._waiting.append(_Waiting(stamp_ns, item, now))
        released: list[Paired] = []
        while len(self._waiting) > self._image_capacity:
            old = self._waiting.popleft()
            released.append(Paired(old.item, None, CAMERA_INFO_WAIT, 'a newer image arrived while this one waited '
                                   'for its camera_info; frame dropped', dropped=True))
        return released

    def expire(self) -> list[Paired]:
        """Images that waited camera_info_timeout_s: relative depth only."""
        now = self._clock()
        released: list[Paired] = []
        while self._waiting and now - self._waiting[0].since >= self.timeout_s:
            old = self._waiting.popleft()
            released.append(Paired(old.item, None, CAMERA_INFO_MISSING, self._missing_reason()))
        return released

    def _expecting(self, now: float) -> bool:
        """Whether a camera_info may still come: one arrived within the timeout, or we just started."""
        since = self._last_info if self._last_info is not None else self._first_image
        return since is not None and now - since < self.timeout_s

    def _missing_reason(self) -> str:
        return (f'no camera_info for this image within camera_info_timeout_s {self.timeout_s:g} s: '
                'relative depth only (no metric depth, no cloud)')

    def _paired(self, item: Any, stamp_ns: int, found: tuple[CameraModel | None, str]) -> Paired:
        camera, error = found
        if camera is None:
            return Paired(item, None, CAMERA_INFO_UNMATCHED, f'the camera_info of this stamp was refused ({error}): '
                                                             'relative depth only')
        return Paired(item, camera)


def _unmatched(stamp_ns: int) -> str:
    return (f'no camera_info with the stamp {stamp_ns * 1e-9:.6f} s of this image (camera_info_slop_s): '
            'relative depth only')
