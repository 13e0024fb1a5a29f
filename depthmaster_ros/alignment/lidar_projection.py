"""LiDAR points in the camera optical frame -> a sparse depth image, with an occlusion filter.

Projection: the camera model (distortion honoured), scaled to the output size when that differs;
points with min_depth < z < max_depth that land inside the image are kept, and a z-buffer keeps the
nearest point per pixel. Depth is z in the optical frame (REP 118), NaN where there is no return.

Occlusion filter: the LiDAR sits somewhere else than the camera, so it sees surfaces that the camera
cannot (the floor behind a box, seen over its top). Projected into the image, those background points
land on the foreground object and would teach the fit a wrong depth there. Rule: a point is rejected
when its depth exceeds (1 + occlusion_rel_threshold) times the nearest *occluder* in the window around
it. Only a return with support counts as an occluder: along at least two of the four directions (left,
right, up, down) its nearest neighbour within the scan spacing is no farther than the same relative
threshold, so it belongs to a surface of several returns. A lone spurious near return (dust, rain, a
multipath echo) therefore erases nothing around it; it stays a single outlier for the robust fit.

The window follows the scan: the median gap between neighbouring returns along image columns (the
scan-line spacing) and along rows is measured in the projected cloud itself, and the window spans
1.5 scan-line gaps (at least 3 px), capped by occlusion_window (the parameter is an upper bound). The
cost of the filter is that true background points right next to a depth edge go as well, which only
thins the data.

Cost: a spinning LiDAR's scan is mostly outside the camera's view, so points are first culled with
a few comparisons against the camera's field-of-view box (CameraModel.normalised_bounds, widened so
that the cull never drops a point the projection would keep); only the rest is projected. The
z-buffer is one sort, the filter a few erosions (OpenCV, else numpy), and both touch per-point arrays, not whole images.
"""
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

try:   # OpenCV's erosion is the fast minimum filter; a machine without OpenCV uses the numpy one below
    import cv2
except ImportError:
    cv2 = None  # type: ignore[assignment]

from depthmaster_ros.alignment.fit import open_interval_bounds
from depthmaster_ros.geometry.array_checks import POINTS, float_array
from depthmaster_ros.geometry.camera_model import CameraModel


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


def _erode(image, rows, cols, anchor_row, anchor_col):
    """Minimum over a rows x cols box whose element (anchor_row, anchor_col) sits on the pixel; +inf
    beyond the border (a grey erosion, as cv2.erode computes it)."""
    if cv2 is not None:
        return cv2.erode(image, np.ones((int(rows), int(cols)), np.uint8), anchor=(int(anchor_col), int(anchor_row)),
                         borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)
    return _erode_numpy(image, ((int(rows), int(anchor_row)), (int(cols), int(anchor_col))))


def _erode_numpy(image, boxes):
    """The same erosion without OpenCV: the box is separable into a column pass and a row pass."""
    result = image
    for axis, (size, anchor) in enumerate(boxes):
        padding = [(0, 0), (0, 0)]
        padding[axis] = (anchor, size - 1 - anchor)
        padded = np.pad(result, padding, constant_values=np.inf)
        length = result.shape[axis]
        window = [padded[k:k + length] if axis == 0 else padded[:, k:k + length] for k in range(size)]
        result = np.minimum.reduce(window) if size > 1 else window[0].copy()
    return result


def _min_filter(filled, window):
    """Window minimum of a float32 image holding +inf where empty, centred as OpenCV centres it."""
    window = int(window)
    return _erode(filled, window, window, window // 2, window // 2)


# Share of the scan-line gap the window spans, and the columns sampled to measure that gap.
WINDOW_PER_LINE_GAP = 1.5
SPACING_COLUMN_STEP = 4
MIN_WINDOW = 3
SUPPORT_DIRECTIONS = 2          # of left, right, up, down: a return with fewer is no occluder


def scan_spacing(pixel: np.ndarray, width: int) -> tuple[float, float]:
    """(row gap, column gap): median pixel gaps between neighbouring returns along columns and rows.

    pixel: sorted flat indices of the returns. One column in SPACING_COLUMN_STEP is sampled, picked by
    a hash of its index (absolute columns, so any band of the image gives the same answer, and no
    regular scan pattern aliases with the pick); NaN where no gap is seen.
    """
    rows, cols = pixel // width, pixel % width
    same_row = rows[1:] == rows[:-1]
    col_gaps = (cols[1:] - cols[:-1])[same_row]
    sampled = (cols * 2654435761) % 64 < 64 // SPACING_COLUMN_STEP
    order = np.lexsort((rows[sampled], cols[sampled]))
    s_rows, s_cols = rows[sampled][order], cols[sampled][order]
    row_gaps = (s_rows[1:] - s_rows[:-1])[s_cols[1:] == s_cols[:-1]]
    row_gap = float(np.median(row_gaps)) if len(row_gaps) else float('nan')
    col_gap = float(np.median(col_gaps)) if len(col_gaps) else float('nan')
    return row_gap, col_gap


def occlusion_window_for(row_gap: float, max_window: int) -> int:
    """Odd window spanning WINDOW_PER_LINE_GAP scan-line gaps, within [MIN_WINDOW, max_window]."""
    if not np.isfinite(row_gap):
        return int(max_window)
    window = int(np.ceil(WINDOW_PER_LINE_GAP * row_gap)) | 1
    return int(min(max(window, MIN_WINDOW), max_window))


def _directional_minimum(image, reach, axis, forward, offset):
    """At the flat offsets, the minimum over the next `reach` pixels (not itself) along axis 1 (rows) or 0
    (columns), within one pixel across; read at the neighbour's offset instead of shifting the image."""
    reach = max(int(reach), 1)
    height, width = image.shape
    start = 0 if forward else reach - 1
    eroded = (_erode(image, 3, reach, 1, start) if axis == 1 else _erode(image, reach, 3, start, 1)).ravel()
    step = (1 if axis == 1 else width) * (1 if forward else -1)
    if axis == 1:
        cols = offset % width
        outside = cols == (width - 1 if forward else 0)
    else:
        rows = offset // width
        outside = rows == (height - 1 if forward else 0)
    return np.where(outside, np.float32(np.inf), eroded[np.where(outside, offset, offset + step)])


def _occluded_in_band(band, offset, depth, row_gap, col_gap, max_window, rel_threshold):
    """Which of the returns (at flat offsets of band, +inf elsewhere) lie behind a supported occluder."""
    limit = np.float32(1.0 + rel_threshold) * depth
    reach_h = int(np.ceil(WINDOW_PER_LINE_GAP * col_gap)) if np.isfinite(col_gap) else MIN_WINDOW
    reach_v = int(np.ceil(WINDOW_PER_LINE_GAP * row_gap)) if np.isfinite(row_gap) else MIN_WINDOW
    support = np.zeros(len(depth), np.int8)
    for axis, reach in ((1, reach_h), (0, reach_v)):
        for forward in (True, False):
            support += _directional_minimum(band, reach, axis, forward, offset) <= limit
    occluders = np.full_like(band, np.inf)
    supported = support >= SUPPORT_DIRECTIONS
    occluders.ravel()[offset[supported]] = depth[supported]
    window = occlusion_window_for(row_gap, max_window)
    return depth > np.float32(1.0 + rel_threshold) * _min_filter(occluders, window).ravel()[offset]


def occluded_returns(pixel: np.ndarray, depth: np.ndarray, shape: tuple[int, int], max_window: int,
                     rel_threshold: float) -> np.ndarray:
    """Mask over the returns (sorted flat pixels, one depth each) that the occlusion filter rejects.

    Only the band of rows that holds returns, padded by the largest reach, is built and filtered: it
    is exact, because every pixel outside the band is empty (+inf) like the border.
    """
    height, width = shape
    if len(pixel) == 0:
        return np.zeros(0, bool)
    row_gap, col_gap = scan_spacing(pixel, width)
    rows = pixel // width
    half = int(max_window) + 2
    top, bottom = max(int(rows.min()) - half, 0), min(int(rows.max()) + half + 1, height)
    band = np.full((bottom - top, width), np.inf, np.float32)
    offset = pixel - top * width
    band.ravel()[offset] = depth
    return _occluded_in_band(band, offset, depth.astype(np.float32), row_gap, col_gap, max_window, rel_threshold)


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


def occlusion_mask(depth: ArrayLike, window: int, rel_threshold: float) -> np.ndarray:
    """Pixels of a sparse depth image (NaN empty) that lie behind a supported nearer neighbour.

    window is the upper bound of the window (see the module notes); the image is filtered as a whole.
    """
    _check_occlusion_settings(window, rel_threshold)
    depth = np.asarray(depth, np.float32)
    pixel = np.flatnonzero(np.isfinite(depth))
    mask = np.zeros(depth.shape, bool)
    mask.ravel()[pixel[occluded_returns(pixel, depth.ravel()[pixel], depth.shape, window, rel_threshold)]] = True
    return mask


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


def project_to_sparse_depth(points_cam: ArrayLike, camera: CameraModel, out_width: int, out_height: int,
                            min_depth: float = 0.1, max_depth: float = 100.0, occlusion_window: int = 5,
                            occlusion_rel_threshold: float = 0.1) -> SparseDepthResult:
    """Sparse depth at out_width x out_height from Nx3 points in the camera optical frame.

    occlusion_window <= 1 turns the occlusion filter off; otherwise it caps the measured window.
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
        occluded = occluded_returns(pixel, z, depth.shape, occlusion_window, occlusion_rel_threshold)
        num_occluded = int(occluded.sum())
        pixel, z = pixel[~occluded], z[~occluded]
    depth.ravel()[pixel] = z
    return SparseDepthResult(depth, num_in_view, num_occluded)
