"""sensor_msgs Image, CompressedImage, PointCloud2 and CameraInfo values <-> numpy, for rclpy and rosbags alike.

Readers are duck-typed over the message fields; writers return plain field records that the rclpy
builders (`depthmaster_ros.ros.messages`) and the rosbags builders (`depthmaster_ros.bag.messages`)
both turn into messages.
"""
from .buffers import ImplausibleSize
from .builders import MessageBuilders
from .compressed import (
           CompressedFormat,
           compressed_to_numpy,
           compressed_to_rgb8,
           decode_compressed,
           encode_compressed,
           encoded_size,
           parse_format,
)
from .errors import ConversionError
from .image import ENCODINGS, RGB_SOURCES, ImageFields, check_image_size, image_to_numpy, image_to_rgb8, numpy_to_image_fields
from .point_cloud import (
           DATATYPES,
           FLOAT32,
           FLOAT64,
           INT8,
           UINT8,
           UINT16,
           XYZ_FIELDS,
           CloudFields,
           FieldSpec,
           cloud_dtype,
           create_cloud_fields,
           pack_rgb,
           read_points,
           read_xyz,
           unpack_rgb,
           xyz_cloud_fields,
)
from .values import alignment_values, camera_info_values, check_frame_id, laser_scan_values, split_stamp_ns, stamp_to_ns

__all__ = ['CloudFields', 'CompressedFormat', 'ConversionError', 'DATATYPES', 'ENCODINGS', 'FLOAT32', 'FLOAT64',
           'FieldSpec', 'INT8', 'ImageFields', 'ImplausibleSize',
           'MessageBuilders', 'RGB_SOURCES', 'UINT16', 'UINT8', 'XYZ_FIELDS',
           'alignment_values', 'camera_info_values', 'check_frame_id', 'check_image_size', 'cloud_dtype',
           'compressed_to_numpy', 'compressed_to_rgb8', 'create_cloud_fields', 'decode_compressed', 'encode_compressed',
           'encoded_size', 'image_to_numpy', 'image_to_rgb8', 'laser_scan_values', 'numpy_to_image_fields', 'pack_rgb',
           'parse_format', 'read_points', 'read_xyz', 'split_stamp_ns', 'stamp_to_ns', 'unpack_rgb', 'xyz_cloud_fields']
