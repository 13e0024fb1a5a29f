"""Choosing the LiDAR cloud that goes with an image.

A cloud older than the image by more than max_age, or newer by more than the future tolerance,
describes a different scene (the robot moved), so it must not be used for alignment at all.
"""
from collections import deque
from collections.abc import Iterable
import threading

from depthmaster_ros.geometry import StampedCloud

from .errors import PipelineError


def select_cloud(clouds: Iterable[StampedCloud], image_stamp_ns: int, max_age_s: float,
                 future_tolerance_s: float) -> StampedCloud | None:
    """The newest cloud stamped within [image - max_age, image + tolerance], or None."""
    oldest = image_stamp_ns - int(round(max_age_s * 1e9))
    newest = image_stamp_ns + int(round(future_tolerance_s * 1e9))
    best = None
    for cloud in clouds:
        if oldest <= cloud.stamp_ns <= newest and (best is None or cloud.stamp_ns > best.stamp_ns):
            best = cloud
    return best


def describe_miss(clouds: list[StampedCloud], image_stamp_ns: int) -> str:
    """Why no cloud matched: a short reason for logs and the alignment record."""
    if not clouds:
        return 'no point cloud received'
    nearest = min(clouds, key=lambda c: abs(c.stamp_ns - image_stamp_ns))
    offset_s = (nearest.stamp_ns - image_stamp_ns) * 1e-9
    if offset_s < 0:
        return f'newest usable point cloud is {-offset_s:.3f} s older than the image'
    return f'nearest point cloud is {offset_s:.3f} s newer than the image'


class RecentClouds:
    """A small thread-safe ring of recent clouds, already converted to xyz."""

    def __init__(self, capacity: int = 8):
        if capacity < 1:
            raise PipelineError(f'capacity must be at least 1, got {capacity}')
        self._clouds: deque[StampedCloud] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def add(self, cloud: StampedCloud) -> None:
        with self._lock:
            self._clouds.append(cloud)

    def snapshot(self) -> list[StampedCloud]:
        with self._lock:
            return list(self._clouds)

    def clear(self) -> None:
        with self._lock:
            self._clouds.clear()

    def select(self, image_stamp_ns: int, max_age_s: float,
               future_tolerance_s: float) -> tuple[StampedCloud | None, str]:
        """(cloud or None, reason when None)."""
        clouds = self.snapshot()
        cloud = select_cloud(clouds, image_stamp_ns, max_age_s, future_tolerance_s)
        return cloud, ('' if cloud is not None else describe_miss(clouds, image_stamp_ns))
