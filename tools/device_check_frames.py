"""Inputs and message builders of the device check, with nothing that needs ROS or OpenCV.

Camera frames come from the synthetic scene. A random-weight model predicts nothing about the scene,
so its fit against the scene's own LiDAR would be rejected and the depth and cloud stages would do
no work; instead each camera's LiDAR keeps the scene's beam pattern (same pixels, same count) and
takes its ranges from the model's own prediction under a known scale and shift, so every fit is
accepted and every frame does a good frame's full work.
"""
from types import SimpleNamespace

import numpy as np

from depthmaster_ros.alignment import from_space, project_to_sparse_depth
from depthmaster_ros.conversions import alignment_values, camera_info_values, numpy_to_image_fields
from depthmaster_ros.geometry import StampedCloud
from depthmaster_ros.pipeline import FrameInput
from depthmaster_ros.synthetic import SyntheticScene

CAMERA_FRAME = 'camera_optical_frame'
LIDAR_AZIMUTH_STEP_DEG = 0.3          # about 2 % of a 640x480 image, as benchmarks/frames.py
CONSISTENT_SCALE, CONSISTENT_SHIFT = 0.1, 1.0

# The pipeline's settings for the check: the node's defaults, LiDAR alignment with the cloud
# already in the camera frame (identity lidar_to_camera, no TF).
CHECK_PARAMS = {'alignment_mode': 'lidar', 'use_tf': False, 'lidar_to_camera': [0, 0, 0, 0, 0, 0, 1],
                'lidar_frame': CAMERA_FRAME}


def scene_frames(width, height, cameras):
    """One rendered scene frame per camera (different times of the drive)."""
    scene = SyntheticScene(width=width, height=height, lidar_azimuth_step_deg=LIDAR_AZIMUTH_STEP_DEG, seed=0)
    return [scene.render(0.7 * camera) for camera in range(cameras)]


def consistent_cloud(frame, relative, space):
    """(N,3) camera-frame points at the scene LiDAR's pixels with ranges from `relative` (see module doc)."""
    sparse = project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, frame.camera.width,
                                     frame.camera.height, occlusion_window=1).depth
    rows, cols = np.nonzero(np.isfinite(sparse))
    depth = from_space(CONSISTENT_SCALE * relative[rows, cols].astype(np.float64) + CONSISTENT_SHIFT, space)
    rays = frame.camera.pixel_rays(1)[rows, cols]
    points = np.stack([rays[:, 0] * depth, rays[:, 1] * depth, depth], axis=1)
    return points[np.isfinite(depth)].astype(np.float32)


def frame_input(frame, cloud_points, index):
    stamp_ns = 1_000_000_000 + 50_000_000 * index
    return FrameInput(rgb=frame.rgb, stamp_ns=stamp_ns, frame_id=CAMERA_FRAME, camera=frame.camera,
                      cloud=StampedCloud(cloud_points, CAMERA_FRAME, stamp_ns))


class FieldBuilders:
    """`pipeline.outputs.frame_messages` builders that stop at plain field records (no rclpy):
    the same conversions and byte packing the ROS builders do, minus the message classes."""

    @staticmethod
    def image_msg(pixels, encoding, header):
        return numpy_to_image_fields(pixels, encoding)

    @staticmethod
    def camera_info_msg(fields, header):
        return camera_info_values(fields)

    @staticmethod
    def cloud_msg(cloud, header):
        return cloud

    @staticmethod
    def alignment_msg(record, header):
        return alignment_values(record)


HEADER = SimpleNamespace(frame_id=CAMERA_FRAME)
