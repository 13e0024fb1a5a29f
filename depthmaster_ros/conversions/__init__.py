"""sensor_msgs Image, CompressedImage, PointCloud2 and CameraInfo values <-> numpy, for rclpy and rosbags alike.

Readers are duck-typed over the message fields; writers return plain field records that the rclpy
builders (`depthmaster_ros.ros.messages`) and the rosbags builders (`depthmaster_ros.bag.messages`)
both turn into messages.
"""
from .compressed import compressed_to_rgb8, encode_compressed
from .image import image_to_numpy, image_to_rgb8, numpy_to_image_fields
from .point_cloud import create_cloud_fields, read_points, read_xyz

__all__ = ['compressed_to_rgb8', 'create_cloud_fields', 'encode_compressed', 'image_to_numpy', 'image_to_rgb8',
           'numpy_to_image_fields', 'read_points', 'read_xyz']
