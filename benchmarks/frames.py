"""Benchmark inputs: camera frames as real ROS messages plus the scene's own spinning LiDAR.

The project's synthetic scene gives the image, exact depth and a 32-beam LiDAR scan mounted above
and behind the camera (so the occlusion filter has real work). With a 0.3 degree azimuth step the
scan covers about 2 % of a 640x480 image, the coverage a robot's LiDAR gives.
"""
from dataclasses import dataclass

import numpy as np

LIDAR_AZIMUTH_STEP_DEG = 0.3
LIDAR_RANGE_NOISE = 0.02


@dataclass
class BenchFrame:
    image_msg: object             # sensor_msgs/Image (rclpy), as the node receives it
    rgb: np.ndarray               # (H,W,3) uint8
    depth_gt: np.ndarray          # (H,W) float32 metres, NaN where nothing is hit
    camera: object                # depthmaster_ros.geometry.camera_model.CameraModel
    lidar_points_cam: np.ndarray  # (N,3) float32 in the camera optical frame
    header: object                # std_msgs/Header (rclpy)


def make_frame(width, height, seed=0, encoding='bgr8'):
    """A BenchFrame at time `seed` x 0.1 s whose Image message carries the scene in `encoding`."""
    from depthmaster_ros.ros import header_msg, image_msg
    from depthmaster_ros.synthetic import SyntheticScene
    scene = SyntheticScene(width=width, height=height, lidar_azimuth_step_deg=LIDAR_AZIMUTH_STEP_DEG,
                           lidar_range_noise=LIDAR_RANGE_NOISE, seed=seed)
    frame = scene.render(0.1 * seed)
    header = header_msg(frame.stamp_ns, 'camera_optical_frame')
    pixels = np.ascontiguousarray(frame.rgb[..., ::-1]) if encoding == 'bgr8' else frame.rgb
    return BenchFrame(image_msg(pixels, encoding, header), frame.rgb, frame.depth, frame.camera,
                      frame.lidar_points_in_camera(), header)
