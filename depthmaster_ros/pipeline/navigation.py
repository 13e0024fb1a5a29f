"""The navigation outputs of one frame (depth/scan, depth/obstacles) and the scan of a camera ring.

They come from the metres the frame publishes (so only from an accepted alignment), at the image
stamp. The camera -> scan_frame transform is looked up in the frame tree, else it is the ground-plane
fallback (camera_height_m / camera_pitch_rad / camera_roll_rad: scan_frame is then the floor under
the camera); heights of both outputs are z in scan_frame. depth/obstacles is in the camera's optical
frame unless obstacle_frame names another, which must then be in the frame tree: without it the frame
publishes no obstacle cloud (a warning says why) rather than one in a wrong frame.
"""
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll
from depthmaster_ros.config import Config, NavigationSettings
from depthmaster_ros.geometry import CameraModel, RigidTransform, TransformLookup
from depthmaster_ros.navigation import Scan, merge_scans, obstacle_cloud, scan_from_depth

from .frames import NAVIGATION_FRAME, FrameWarning


@dataclass(frozen=True)
class NavigationOutput:
    scan: Scan | None = None
    scan_frame: str = ''
    obstacles: np.ndarray | None = None    # (N, 3) float32 in obstacle_frame
    obstacle_frame: str = ''
    merged: bool = False                   # the scan goes into a camera ring's one scan, not out on its own


def navigation_output(depth_m: Any, confidence: np.ndarray | None, camera: CameraModel, camera_frame: str,
                      stamp_ns: int, transforms: TransformLookup | None,
                      config: Config) -> tuple[NavigationOutput, list[FrameWarning]]:
    """depth/scan and depth/obstacles of one frame's published metres, as the parameters switch them.

    depth_m: an ndarray, or the frame's tensor on its device (the work stays there).
    """
    navigation = config.navigation
    if not (navigation.publish_scan or navigation.publish_obstacles):
        return NavigationOutput(), []
    tree = transforms if config.alignment.use_tf else None
    to_scan_frame = _lookup(tree, navigation.scan_frame, camera_frame, stamp_ns)
    if to_scan_frame is None:
        alignment = config.alignment
        to_scan_frame = camera_to_base_from_height_pitch_roll(alignment.camera_height_m, alignment.camera_pitch_rad,
                                                              alignment.camera_roll_rad)
    settings = ring_settings(config) if is_ring(config) else navigation
    output, warnings = NavigationOutput(), []
    if navigation.publish_scan:
        output = replace(output, scan=scan_from_depth(depth_m, camera, to_scan_frame, settings, confidence),
                         scan_frame=navigation.scan_frame, merged=is_ring(config))
    if navigation.publish_obstacles:
        frame = navigation.obstacle_frame or camera_frame
        to_obstacle_frame = RigidTransform.identity() if frame == camera_frame else \
            _lookup(tree, frame, camera_frame, stamp_ns)
        if to_obstacle_frame is None:
            warnings.append(FrameWarning(NAVIGATION_FRAME, f'no transform {camera_frame!r} -> obstacle_frame '
                                         f'{frame!r} at the image stamp; depth/obstacles not published'))
        else:
            cloud = obstacle_cloud(depth_m, camera, to_obstacle_frame, settings, confidence,
                                   camera_to_height_frame=to_scan_frame)
            output = replace(output, obstacles=cloud, obstacle_frame=frame)
    return output, warnings


def is_ring(config: Config) -> bool:
    """Several cameras merged into one scan."""
    return config.navigation.scan_merge and len(config.node.cameras) > 1


def ring_settings(config: Config) -> NavigationSettings:
    """A ring's scans share one set of beams: the set angles, else the full circle."""
    navigation = config.navigation
    if navigation.scan_angle_min < navigation.scan_angle_max:
        return navigation
    return replace(navigation, scan_angle_min=-np.pi, scan_angle_max=np.pi)


def merged_scan(scans: Sequence[tuple[Scan, int]]) -> tuple[Scan, int]:
    """One scan of a camera ring from (scan, image stamp) pairs: beams no camera saw are NaN; the stamp
    is the oldest contributing image's, so no range is newer than the scan says."""
    return merge_scans([scan for scan, _ in scans]), min(stamp for _, stamp in scans)


def _lookup(tree: TransformLookup | None, target: str, source: str, stamp_ns: int) -> RigidTransform | None:
    if tree is None or not target:
        return None
    try:
        return tree.lookup(target, source, stamp_ns)
    except (LookupError, ValueError):
        return None
