"""The obstacle cloud: the metres a costmap may mark, and nothing it must not.

From depth/image as published: pixels below the confidence gate and flying pixels (pixels.py) are
dropped, then points farther than obstacle_max_range from the camera and points outside the height
band, then one point per voxel is kept. The point a voxel keeps is its member nearest to the camera:
a real measured point (a mean could sit in free space between two surfaces that share the voxel),
and the one a ray-tracing costmap clears up to, so clearing never runs through the obstacle.
"""
from typing import Any

import numpy as np

from depthmaster_ros.config import NavigationSettings
from depthmaster_ros.geometry import CameraModel, RigidTransform

from .arrays import HOST, HostOps
from .pixels import Columns, coordinate_in, default_settings, distances, points_in, usable_pixels

_RANGE_BITS = 15                  # range quantum in the sort key: 1 cm up to 327 m
_AXIS_BITS = 16                   # voxel index per axis in the sort key, offset to be positive


def obstacle_cloud(depth_m: Any, camera: CameraModel, camera_to_frame: RigidTransform,
                   settings: NavigationSettings | None = None, confidence: Any = None,
                   camera_to_height_frame: RigidTransform | None = None) -> np.ndarray:
    """(N, 3) float32 obstacle points in the frame camera_to_frame maps into.

    Heights are z in camera_to_height_frame's frame (the scan frame; default camera_to_frame), so the
    cloud can stay in the camera's optical frame while its band is measured from the floor. Pixels
    are sampled at the largest stride that still puts one pixel on each voxel at obstacle_max_range.
    A torch depth tensor stays on its device; only the cloud comes back.
    """
    settings = default_settings(settings)
    full = camera.scaled(depth_m.shape[1], depth_m.shape[0])
    voxel = settings.obstacle_voxel_m
    step = max(1, int(full.fx * voxel / settings.obstacle_max_range)) if voxel > 0 else 1
    stride = (step, step)
    pixels = usable_pixels(depth_m, full, stride, settings.obstacle_min_confidence, settings.obstacle_edge_threshold,
                           confidence)
    distance = distances(pixels)                    # the whole grid: NaN where unusable, which no test passes
    height = coordinate_in(pixels, camera_to_frame if camera_to_height_frame is None else camera_to_height_frame, 2)
    ops = pixels.ops
    keep = ops.nonzero((distance <= settings.obstacle_max_range) & (height >= settings.obstacle_min_height)
                       & (height <= settings.obstacle_max_height))
    pixels, distance = pixels.subset(keep), distance[keep]
    columns = points_in(pixels, camera_to_frame)
    if voxel > 0:
        representative = nearest_per_voxel(columns, distance, voxel, ops)
        columns = (columns[0][representative], columns[1][representative], columns[2][representative])
    return ops.host(ops.stack_columns(columns))


def nearest_per_voxel(columns: Columns, distance: Any, voxel_m: float, ops: HostOps = HOST) -> Any:
    """Indices of the point nearest to the sensor in each occupied voxel (one sort of one int64 key)."""
    if len(distance) == 0:
        return ops.nonzero(distance > 0)
    cells = ops.to_int(ops.floor(ops.stack_columns(columns) / voxel_m), wide=True)
    cells -= ops.column_min(cells)
    if cells.max() >= 1 << _AXIS_BITS:          # a span too large for the packed key: number the cells
        cell_key = ops.row_ids(cells)
    else:
        cell_key = (cells[:, 0] << (2 * _AXIS_BITS)) | (cells[:, 1] << _AXIS_BITS) | cells[:, 2]
    quantised = ops.to_int(distance * 100.0, wide=True)
    quantised[quantised >= 1 << _RANGE_BITS] = (1 << _RANGE_BITS) - 1
    order = ops.argsort((cell_key << _RANGE_BITS) | quantised)
    sorted_cells = cell_key[order]
    first = sorted_cells == sorted_cells
    first[1:] = sorted_cells[1:] != sorted_cells[:-1]
    return order[first]
