"""Cameras, rigid transforms, back-projection and depth metrics (numpy and OpenCV only)."""
from .array_checks import IMAGE, POINTS, float64_array, float_array, is_tensor
from .backprojection import depth_to_points, depth_to_points_with_colors
from .camera_model import CameraModel
from .errors import GeometryError, TransformLookupError
from .metrics import DELTA1_THRESHOLD, DepthErrors, depth_errors, mean_errors
from .stamped_cloud import StampedCloud
from .transforms import RigidTransform, TransformBuffer, TransformLookup, optical_from_body, rotation_about, store_tf_message

__all__ = ['CameraModel', 'DELTA1_THRESHOLD', 'DepthErrors', 'GeometryError', 'IMAGE', 'POINTS', 'RigidTransform',
           'StampedCloud', 'TransformBuffer', 'TransformLookup', 'TransformLookupError', 'depth_errors',
           'depth_to_points', 'depth_to_points_with_colors', 'float64_array', 'float_array', 'is_tensor', 'mean_errors',
           'optical_from_body', 'rotation_about', 'store_tf_message']
