"""Depth a navigation stack can act on: a laser scan and an obstacle cloud (ROS-free).

`scan_from_depth` gives what pointcloud_to_laserscan would make of the metres; `obstacle_cloud` gives
the points a costmap may mark, without flying pixels, far or low-confidence points, one per voxel.
"""
from .arrays import ops_for
from .errors import NavigationError
from .obstacles import nearest_per_voxel, obstacle_cloud
from .pixels import flying_pixels
from .scan import Scan, merge_scans, scan_from_depth

__all__ = ['NavigationError', 'Scan', 'flying_pixels', 'merge_scans', 'nearest_per_voxel', 'obstacle_cloud', 'ops_for',
           'scan_from_depth']
