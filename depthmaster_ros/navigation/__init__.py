"""Depth a navigation stack can act on: a laser scan and an obstacle cloud (ROS-free).

`scan_from_depth` gives what pointcloud_to_laserscan would make of the metres; `obstacle_cloud` gives
the points a costmap may mark, without flying pixels, far or low-confidence points, one per voxel.
"""
from .obstacles import obstacle_cloud
from .scan import Scan, merge_scans, scan_from_depth

__all__ = ['Scan', 'merge_scans', 'obstacle_cloud', 'scan_from_depth']
