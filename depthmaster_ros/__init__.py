"""DepthMaster single-step diffusion depth for ROS 2.

The package is a ROS-free core (model, alignment, geometry, bag processing) with a thin
rclpy adapter in ``depthmaster_ros.ros``; only that subpackage imports rclpy. Every error it
raises on purpose is a `DepthmasterError`.
"""
from .errors import DepthmasterError, InputError

__version__ = '0.1.0'

__all__ = ['DepthmasterError', 'InputError', '__version__']
