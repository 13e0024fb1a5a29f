"""LiDAR metres against the camera's known height: two independent scales that must agree.

With a LiDAR fit and the camera's pose above the floor (TF to base_frame) both at hand, the floor the
prediction shows (floor_selection.py) has two depths: the LiDAR-aligned metres and the floor plane's
depth from the pose. Along a ray the plane's depth is proportional to the camera's height, so their
median ratio is the height the LiDAR's metres imply, over the height the pose says. A clear
disagreement means one of them is wrong: the height or pitch in TF, the LiDAR-camera extrinsic, or
the floor is not flat. It is reported, never used to change the fit.
"""
from dataclasses import dataclass

import numpy as np

from depthmaster_ros.geometry import CameraModel, RigidTransform

from .floor_selection import select_floor
from .spaces import from_space

# Floor pixels' own model error and the pose's: below this (plus the fit's uncertainty) the two agree.
HEIGHT_TOLERANCE = 0.05
MIN_FLOOR_PIXELS = 50


@dataclass
class HeightCheck:
    implied_height_m: float     # the camera height at which the LiDAR-aligned floor lies on the plane
    known_height_m: float       # the height of the pose (TF)
    disagreement: float         # implied / known - 1
    tolerance: float            # HEIGHT_TOLERANCE plus the LiDAR fit's scale uncertainty

    @property
    def agrees(self) -> bool:
        return abs(self.disagreement) <= self.tolerance

    def describe(self) -> str:
        """One line for /diagnostics."""
        verdict = 'agree' if self.agrees else 'disagree: check the height and pitch in TF, the LiDAR extrinsic, ' \
                                              'or whether the floor is flat'
        return (f'LiDAR metres put the camera {self.implied_height_m:.2f} m above the floor, TF says '
                f'{self.known_height_m:.2f} m ({self.disagreement:+.0%}, tolerance +-{self.tolerance:.0%}): {verdict}')


def check_camera_height(relative: np.ndarray, space: str, camera: CameraModel, camera_to_base: RigidTransform,
                        max_depth: float, scale: float, shift: float,
                        scale_uncertainty: float) -> HeightCheck | None:
    """The LiDAR fit (scale, shift) against the pose's floor; None when the prediction shows too little floor."""
    floor = select_floor(relative, space, camera, camera_to_base, max_depth)
    if len(floor.pixels) < MIN_FLOOR_PIXELS:
        return None
    lidar_depth = from_space(scale * np.asarray(relative, np.float64).ravel()[floor.pixels] + shift, space)
    ratio = lidar_depth / floor.depth.ravel()[floor.pixels]
    ratio = ratio[np.isfinite(ratio)]
    if len(ratio) < MIN_FLOOR_PIXELS:
        return None
    known = float(camera_to_base.translation[2])
    implied = known * float(np.median(ratio))
    tolerance = HEIGHT_TOLERANCE + (scale_uncertainty if np.isfinite(scale_uncertainty) else np.inf)
    return HeightCheck(implied, known, implied / known - 1.0, tolerance)


# Image time between two checks: the heights change with the mount, not per frame, and a check costs a
# floor selection (about 1 ms at 640x480).
CHECK_PERIOD_S = 1.0


class PeriodicHeightCheck:
    """check_camera_height at most once per CHECK_PERIOD_S of image time; the last result in between."""

    def __init__(self) -> None:
        self._checked_at: float | None = None
        self.last: HeightCheck | None = None

    def update(self, stamp_s: float, relative: np.ndarray, space: str, camera: CameraModel,
               camera_to_base: RigidTransform | None, max_depth: float, scale: float, shift: float,
               scale_uncertainty: float) -> HeightCheck | None:
        """The latest check for a LiDAR fit at stamp_s (camera_to_base None: no pose, no check)."""
        if camera_to_base is None:
            self._checked_at, self.last = None, None
            return None
        due = self._checked_at is None or not 0.0 <= stamp_s - self._checked_at < CHECK_PERIOD_S
        if due:
            self._checked_at = stamp_s
            self.last = check_camera_height(relative, space, camera, camera_to_base, max_depth, scale, shift,
                                            scale_uncertainty)
        return self.last
