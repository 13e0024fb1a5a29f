"""LiDAR points in the camera optical frame -> a sparse depth image, with an occlusion filter.

Projection: the camera model (distortion honoured), scaled to the output size when that differs;
points with min_depth < z < max_depth that land inside the image are kept, and a z-buffer keeps the
nearest point per pixel. Depth is z in the optical frame (REP 118), NaN where there is no return.

Occlusion filter: the LiDAR sits somewhere else than the camera, so it sees surfaces that the camera
cannot (the floor behind a box, seen over its top). Projected into the image, those background points
land on the foreground object and would teach the fit a wrong depth there. Rule: a point is rejected
when its depth exceeds (1 + occlusion_rel_threshold) times the minimum depth in the
occlusion_window x occlusion_window pixel neighbourhood around it (a minimum filter, cv2.erode on
the depth image with +inf where empty). It needs foreground points within the window, so the window
must span the gap between neighbouring scan lines in the image; the cost is that true background
points right next to a depth edge go as well, which only thins the data.
"""
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class SparseDepthResult:
    depth: np.ndarray        # HxW float32 metres, NaN where no return
    num_in_view: int         # points inside the image and the depth range (before the z-buffer)
    num_occluded: int        # pixels removed by the occlusion filter


def _points(points, field):
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{field}: not numeric ({error})') from None
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f'{field}: expected an Nx3 array, got shape {array.shape}')
    return array


def occlusion_mask(depth, window, rel_threshold):
    """Pixels of a sparse depth image (NaN empty) that lie behind a nearer neighbour."""
    if window < 1:
        raise ValueError(f'occlusion_window: must be >= 1, got {window}')
    if rel_threshold < 0:
        raise ValueError(f'occlusion_rel_threshold: must be >= 0, got {rel_threshold}')
    filled = np.where(np.isfinite(depth), depth, np.inf).astype(np.float32)
    nearest = cv2.erode(filled, np.ones((int(window), int(window)), np.uint8),
                        borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)
    return np.isfinite(filled) & (filled > (1.0 + rel_threshold) * nearest)


def project_to_sparse_depth(points_cam, camera, out_width, out_height, min_depth=0.1, max_depth=100.0,
                            occlusion_window=5, occlusion_rel_threshold=0.1):
    """Sparse depth at out_width x out_height from Nx3 points in the camera optical frame.

    occlusion_window <= 1 turns the occlusion filter off.
    """
    points = _points(points_cam, 'points_cam')
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    camera = camera.scaled(out_width, out_height)
    depth = np.full((camera.height, camera.width), np.nan, np.float32)
    with np.errstate(invalid='ignore'):
        in_range = (points[:, 2] > min_depth) & (points[:, 2] < max_depth)
    points = points[in_range]
    uv, valid = camera.project(points)
    cols = np.floor(uv[valid, 0] + 0.5).astype(np.int64)
    rows = np.floor(uv[valid, 1] + 0.5).astype(np.int64)
    z = points[valid, 2]
    num_in_view = int(len(z))
    if num_in_view == 0:
        return SparseDepthResult(depth, 0, 0)
    pixel = rows * camera.width + cols
    order = np.lexsort((z, pixel))          # by pixel, nearest first
    pixel, z = pixel[order], z[order]
    first = np.ones(len(pixel), bool)
    first[1:] = pixel[1:] != pixel[:-1]
    depth.ravel()[pixel[first]] = z[first]
    num_occluded = 0
    if occlusion_window > 1:
        occluded = occlusion_mask(depth, occlusion_window, occlusion_rel_threshold)
        depth[occluded] = np.nan
        num_occluded = int(occluded.sum())
    return SparseDepthResult(depth, num_in_view, num_occluded)
