"""Virtual sparse depth from a flat floor, for robots without LiDAR.

If the camera's pose above a flat floor is known (from TF, or height/pitch/roll parameters), every
pixel whose ray goes down hits the floor at a known depth. That depth image is handed to the robust
fit as if it were LiDAR: pixels that actually show obstacles standing on the floor disagree with it
and are rejected as outliers, as long as the floor is what most of the lower image shows.

When it cannot work: the camera looks level or up so that the horizon is at or below the bottom of
the image (no ray reaches the floor within max_depth); the floor is not visible or mostly occluded
(a wall or a crowd fills the view: the outliers become the majority); the ground is not flat
(ramps, stairs, rough terrain) or the pose is wrong (a 1 degree pitch error biases far depth
strongly); the robot pitches or rolls while driving and TF does not report it.
"""
from typing import TYPE_CHECKING

import numpy as np

from depthmaster_ros.geometry import CameraModel, RigidTransform, optical_from_body, rotation_about

from .errors import AlignmentError

if TYPE_CHECKING:
    from depthmaster_ros.geometry import TransformLookup


def camera_to_base_from_height_pitch_roll(height_m: float, pitch_rad: float, roll_rad: float = 0.0) -> RigidTransform:
    """camera optical frame -> base frame (REP 103: x forward, y left, z up; z = 0 on the floor).

    The base frame sits on the floor straight below the camera, with the same heading. pitch is a
    rotation about the base y axis, positive = looking down (REP 103 right-hand rule: +pitch tips x
    towards -z); roll is about the forward axis, positive = rolling right side down.
    """
    for name, value in (('height_m', height_m), ('pitch_rad', pitch_rad), ('roll_rad', roll_rad)):
        if not np.isfinite(value):
            raise AlignmentError(f'{name}: must be finite, got {value}')
    if height_m <= 0:
        raise AlignmentError(f'height_m: camera must be above the floor, got {height_m}')
    base_from_body = rotation_about('y', pitch_rad) @ rotation_about('x', roll_rad)
    base_from_camera_body = RigidTransform(base_from_body, np.array([0.0, 0.0, float(height_m)]))
    return base_from_camera_body @ optical_from_body().inverse()


def pose_from_tf(transforms: 'TransformLookup | None', base_frame: str, frame_id: str,
                 stamp_ns: int) -> RigidTransform | None:
    """camera -> base_frame from TF at the image's stamp, or None when TF does not have it."""
    if transforms is None:
        return None
    try:
        return transforms.lookup(base_frame, frame_id, stamp_ns)
    except (LookupError, ValueError):
        return None


def ground_plane_depth(camera: CameraModel, camera_to_base: RigidTransform, out_width: int, out_height: int,
                       max_depth: float = 50.0, stride: int = 1) -> np.ndarray:
    """HxW float32 depth of the floor plane z = 0 of the base frame; NaN where a ray misses it.

    stride > 1: only at every stride-th pixel of the out_width x out_height image (camera.pixel_rays).
    """
    if not isinstance(camera_to_base, RigidTransform):
        raise AlignmentError('camera_to_base: expected a RigidTransform')
    if not max_depth > 0:
        raise AlignmentError(f'max_depth: must be positive, got {max_depth}')
    height = float(camera_to_base.translation[2])
    if height <= 0:
        raise AlignmentError(f'camera_to_base: camera is at or below the floor (z = {height:.3f} m)')
    camera = camera.scaled(out_width, out_height)
    rays = camera.pixel_rays(stride)
    # z component of each optical ray (x, y, 1) after rotation into the base frame
    rotation = camera_to_base.rotation
    down = rotation[2, 0] * rays[..., 0] + rotation[2, 1] * rays[..., 1] + rotation[2, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(down < 0, height / -down, np.nan)
        depth[~(depth <= max_depth)] = np.nan
    return depth.astype(np.float32)
