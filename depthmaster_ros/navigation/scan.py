"""A LaserScan from metric depth, as pointcloud_to_laserscan makes one from a cloud.

The valid pixels are back-projected and moved into the scan frame (z up); points whose height is in
[scan_min_height, scan_max_height] fall into the beam of their bearing atan2(y, x), and each beam
reports the nearest hypot(x, y) in [scan_range_min, scan_range_max]. Unlike a level-camera row cut
(depthimage_to_laserscan), every row counts and a pitched or rolled camera is handled by the
transform. REP 117: a beam whose pixels were valid but held nothing in the band within range is
+inf (free as far as seen); a beam with no valid pixel at all is NaN (nothing known).
"""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthmaster_ros.config import NavigationSettings
from depthmaster_ros.geometry import CameraModel, RigidTransform

from .arrays import HOST, HostOps
from .errors import NavigationError
from .pixels import Columns, default_settings, points_in, remembered, usable_pixels

_OUTSIDE = 1e5                    # a bearing, radians, past every beam


@dataclass(frozen=True, eq=False)
class Scan:
    """sensor_msgs/LaserScan's geometry and ranges; beam k is at angle_min + k * angle_increment."""
    angle_min: float
    angle_max: float
    angle_increment: float
    range_min: float
    range_max: float
    ranges: np.ndarray          # float32, one per beam: metres, +inf (free) or NaN (unseen)

    def angles(self) -> np.ndarray:
        return self.angle_min + self.angle_increment * np.arange(len(self.ranges))


def scan_from_depth(depth_m: Any, camera: CameraModel, camera_to_frame: RigidTransform,
                    settings: NavigationSettings | None = None, confidence: Any = None) -> Scan:
    """The scan in the frame camera_to_frame maps into (camera optical -> scan frame, z up).

    depth_m is depth/image as published (metres, NaN where invalid; a torch tensor stays on its
    device and only the ranges come back); confidence, when given, is
    depth/confidence and gates pixels as obstacle_min_confidence says. Columns are sampled at the
    largest stride that keeps at least one column per beam (where beams are finer than the columns, a
    point counts for every beam its column spans, so no beam between two columns is NaN); rows at
    one per obstacle_voxel_m of height at scan_range_max, so the lowest obstacle still crosses a row.
    """
    settings = default_settings(settings)
    full = camera.scaled(depth_m.shape[1], depth_m.shape[0])
    column_stride = max(1, int(full.fx * settings.scan_angle_increment))
    row_stride = max(column_stride, int(full.fy * settings.obstacle_voxel_m / settings.scan_range_max))
    stride = (row_stride, column_stride)
    pixels = usable_pixels(depth_m, full, stride, settings.obstacle_min_confidence, settings.obstacle_edge_threshold,
                           confidence)
    angle_min, angle_max = scan_angles(full, camera_to_frame, settings)
    count = int(np.floor((angle_max - angle_min) / settings.scan_angle_increment + 1e-9)) + 1
    columns = points_in(pixels, camera_to_frame)
    footprint = column_stride / (full.fx * settings.scan_angle_increment)          # beams per sampled column
    ranges = beam_ranges(columns, angle_min, settings.scan_angle_increment, count, settings, footprint, pixels.ops)
    return Scan(float(angle_min), float(angle_min + (count - 1) * settings.scan_angle_increment),
                settings.scan_angle_increment, settings.scan_range_min, settings.scan_range_max, ranges)


def beam_ranges(columns: Columns, angle_min: float, increment: float, count: int,
                settings: NavigationSettings, footprint: float = 1.0, ops: HostOps = HOST) -> np.ndarray:
    """Nearest in-band, in-range hypot(x, y) per beam; +inf where seen but empty, NaN where unseen.

    Points with NaN coordinates (unusable pixels) count for no beam. footprint: the beams one point
    spans; above 1 each point also counts for the beams its column covers on either side.
    """
    x, y, z = columns
    bearing = ops.atan2(y, x)
    bearing -= float(angle_min - 0.5 * increment)
    bearing[bearing < 0] += 2 * np.pi                        # a rear camera's beams may span +-pi
    ops.replace_nan(bearing, _OUTSIDE)                       # NaN: into the bin of points outside the beams
    beam = ops.to_int(bearing * (1.0 / increment), wide=True)    # bincount and indexing take int64 as it is
    spread = int(np.ceil(footprint / 2 - 0.5)) if footprint > 1 else 0
    if spread:
        offsets = ops.offsets(-spread, spread + 1)
        beam = (beam[None, :] + offsets[:, None]).reshape(-1)
        x, y, z = (ops.tile(column, len(offsets)) for column in (x, y, z))
        beam[beam < 0] = count
    beam[beam > count] = count                                 # count: the bin of points outside the beams
    seen = ops.bincount(beam, count + 1)[:count] > 0
    squared = x * x
    squared += y * y
    hit = ops.nonzero((z >= settings.scan_min_height) & (z <= settings.scan_max_height)
                      & (squared >= settings.scan_range_min ** 2) & (squared <= settings.scan_range_max ** 2))
    nearest = ops.full(count + 1, np.inf)
    ops.scatter_min(nearest, beam[hit], squared[hit])
    ranges = nearest[:count] ** 0.5
    ranges[~seen] = np.nan
    return ops.host(ranges)


def scan_angles(camera: CameraModel, camera_to_frame: RigidTransform,
                settings: NavigationSettings) -> tuple[float, float]:
    """scan_angle_min/max, or the bearings the image's left and right columns span in the scan frame."""
    if settings.scan_angle_min < settings.scan_angle_max:
        return settings.scan_angle_min, settings.scan_angle_max
    angles: tuple[float, float] = remembered(('angles', camera.cache_key(), camera_to_frame.rotation.tobytes()),
                                             lambda: _field_of_view(camera, camera_to_frame))
    return angles


def _field_of_view(camera: CameraModel, camera_to_frame: RigidTransform) -> tuple[float, float]:
    rays = camera.pixel_rays()
    border = np.concatenate([rays[:, 0], rays[:, -1]])
    directions = np.column_stack([border, np.ones(len(border))]) @ camera_to_frame.rotation.T
    ahead = camera_to_frame.rotation[:, 2]                 # the optical axis
    centre = np.arctan2(ahead[1], ahead[0])
    offsets = np.angle(np.exp(1j * (np.arctan2(directions[:, 1], directions[:, 0]) - centre)))
    return float(centre + offsets.min()), float(centre + offsets.max())


def merge_scans(scans: Sequence[Scan]) -> Scan:
    """One scan from several on the same beams (a camera ring): per beam the nearest range of any scan,
    +inf where some camera saw the beam free and none saw an obstacle, NaN where no camera saw it."""
    first = scans[0]
    for scan in scans[1:]:
        if (len(scan.ranges), scan.angle_min, scan.angle_increment) != \
                (len(first.ranges), first.angle_min, first.angle_increment):
            raise NavigationError('scans: merged scans must share their beams (set scan_angle_min/max)')
    stacked = np.stack([scan.ranges for scan in scans])
    seen = ~np.isnan(stacked).all(axis=0)
    ranges = np.full(len(first.ranges), np.nan, np.float32)
    ranges[seen] = np.nanmin(stacked[:, seen], axis=0)
    return Scan(first.angle_min, first.angle_max, first.angle_increment, first.range_min, first.range_max, ranges)
