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

Cost: a spinning LiDAR's scan is mostly outside the camera's view, so points are first culled with
a few comparisons against the camera's field-of-view box (CameraModel.normalised_bounds, widened so
that the cull never drops a point the projection would keep); only the rest is projected. The
z-buffer is one sort, the filter one cv2.erode, and both touch per-point arrays, not whole images.
"""
from dataclasses import dataclass

import numpy as np

try:   # OpenCV's erosion is the fast minimum filter; a machine without OpenCV uses the numpy one below
    import cv2
except ImportError:
    cv2 = None

from depthmaster_ros.alignment.fit import open_interval_bounds
from depthmaster_ros.geometry.array_checks import POINTS, float_array


@dataclass
class SparseDepthResult:
    depth: np.ndarray        # HxW float32 metres, NaN where no return
    num_in_view: int         # points inside the image and the depth range (before the z-buffer)
    num_occluded: int        # pixels removed by the occlusion filter


def _points(points, field):
    return float_array(points, field, POINTS)


# Widening of the field-of-view box for the cull, as a share of its span: far above rounding, so
# the cull keeps every point that CameraModel.project would accept.
CULL_MARGIN = 0.01


def _min_filter(filled, window):
    """Window minimum of a float32 image holding +inf where empty (a grey erosion)."""
    if cv2 is None:
        return _min_filter_numpy(filled, window)
    return cv2.erode(filled, np.ones((int(window), int(window)), np.uint8),
                     borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)


def _min_filter_numpy(filled, window):
    """cv2.erode's result without OpenCV: the square window is separable into a row and a column pass.

    The anchor is the window centre as in OpenCV (for an even window, the element right of and below
    the middle), and everything beyond the border is +inf.
    """
    window = int(window)
    before, after = window // 2, window - 1 - window // 2
    result = filled
    for axis in (0, 1):
        padding = [(0, 0), (0, 0)]
        padding[axis] = (before, after)
        padded = np.pad(result, padding, constant_values=np.inf)
        length = result.shape[axis]

        def shifted(offset, padded=padded, axis=axis, length=length):
            return padded[offset:offset + length] if axis == 0 else padded[:, offset:offset + length]
        result = shifted(0).copy()
        for offset in range(1, window):
            np.minimum(result, shifted(offset), out=result)
    return result


def _window_minimum_at(pixel, depth, shape, window):
    """The window minimum (as _min_filter on the sparse image) at each of the given flat pixels.

    Only the band of rows that holds points, padded by half the window, is built and filtered: it is
    exact, because every pixel outside the band is empty (+inf) like the border, and a LiDAR's beams
    rarely cover the whole image height.
    """
    height, width = shape
    rows = pixel // width
    half = int(window) // 2 + 1
    top, bottom = max(int(rows.min()) - half, 0), min(int(rows.max()) + half + 1, height)
    band = np.full((bottom - top, width), np.inf, np.float32)
    offset = pixel - top * width
    band.ravel()[offset] = depth
    return _min_filter(band, window).ravel()[offset]


def _nearest_per_pixel(pixel, z):
    """(pixel, depth float32) with every pixel once, at its nearest depth: one sort of packed keys.

    A positive float32's bit pattern orders like its value, so pixel << 32 | bits(z) sorts by pixel,
    then by depth; ties in float32 store the same value whichever point wins.
    """
    z32 = z.astype(np.float32)
    key = (pixel.astype(np.int64) << 32) | z32.view(np.uint32).astype(np.int64)
    key.sort()
    pixel = key >> 32
    first = np.ones(len(key), bool)
    first[1:] = pixel[1:] != pixel[:-1]
    depth = (key[first] & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return pixel[first], depth


def _check_occlusion_settings(window, rel_threshold):
    if window < 1:
        raise ValueError(f'occlusion_window: must be >= 1, got {window}')
    if rel_threshold < 0:
        raise ValueError(f'occlusion_rel_threshold: must be >= 0, got {rel_threshold}')


def occlusion_mask(depth, window, rel_threshold):
    """Pixels of a sparse depth image (NaN empty) that lie behind a nearer neighbour."""
    _check_occlusion_settings(window, rel_threshold)
    filled = np.where(np.isfinite(depth), depth, np.inf).astype(np.float32)
    return np.isfinite(filled) & (filled > (1.0 + rel_threshold) * _min_filter(filled, window))


def _cull_outside_view(points, camera, min_depth, max_depth):
    """Columns x, y, z (contiguous float64) of the points that may land in the image.

    Kept: min_depth < z < max_depth (exactly, also for float32 input) and the direction inside the
    widened FOV box. The comparisons run in the points' own dtype; only the survivors are widened.
    """
    low, high = camera.normalised_bounds()
    # Python floats: they take the points' dtype in the arithmetic below instead of widening it
    centre, half = ((low + high) / 2).tolist(), ((1.0 + 2 * CULL_MARGIN) * (high - low) / 2).tolist()
    x, y, z = points.T.astype(points.dtype, order='C')
    z_low, z_high = open_interval_bounds(points.dtype, min_depth, max_depth)
    with np.errstate(invalid='ignore', over='ignore'):
        keep = (z > z_low) & (z < z_high)              # z > 0 as well: the box test needs no division
        keep &= np.abs(x - centre[0] * z) <= half[0] * z
        keep &= np.abs(y - centre[1] * z) <= half[1] * z
    index = np.flatnonzero(keep)
    return x[index].astype(np.float64), y[index].astype(np.float64), z[index].astype(np.float64)


def project_to_sparse_depth(points_cam, camera, out_width, out_height, min_depth=0.1, max_depth=100.0,
                            occlusion_window=5, occlusion_rel_threshold=0.1):
    """Sparse depth at out_width x out_height from Nx3 points in the camera optical frame.

    occlusion_window <= 1 turns the occlusion filter off.
    """
    points = _points(points_cam, 'points_cam')
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    if occlusion_window > 1:
        _check_occlusion_settings(occlusion_window, occlusion_rel_threshold)
    camera = camera.scaled(out_width, out_height)
    depth = np.full((camera.height, camera.width), np.nan, np.float32)
    x, y, z = _cull_outside_view(points, camera, min_depth, max_depth)
    index, u, v = camera.project_columns(x, y, z)
    cols = np.floor(u + 0.5).astype(np.int64)
    rows = np.floor(v + 0.5).astype(np.int64)
    z = z[index]
    num_in_view = int(len(z))
    if num_in_view == 0:
        return SparseDepthResult(depth, 0, 0)
    pixel, z = _nearest_per_pixel(rows * camera.width + cols, z)
    num_occluded = 0
    if occlusion_window > 1:
        nearest = _window_minimum_at(pixel, z, depth.shape, occlusion_window)
        occluded = z > (1.0 + occlusion_rel_threshold) * nearest
        num_occluded = int(occluded.sum())
        pixel, z = pixel[~occluded], z[~occluded]
    depth.ravel()[pixel] = z
    return SparseDepthResult(depth, num_in_view, num_occluded)
