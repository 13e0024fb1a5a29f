"""Cameras, rigid transforms, back-projection and depth metrics (numpy and OpenCV only)."""
from .camera_model import CameraModel
from .transforms import RigidTransform, TransformBuffer

__all__ = ['CameraModel', 'RigidTransform', 'TransformBuffer']
