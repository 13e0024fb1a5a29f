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
z-buffer is one sort, the filter a few erosions (OpenCV, else numpy) of the band of the image around
the returns, one of them per axis for both directions of the support test, on 16-bit depth ranks
rather than float32 depths; the rest touches per-point arrays, not whole images.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import AlignmentError

try:   # OpenCV's erosion is the fast minimum filter; a machine without OpenCV uses the numpy one below
    import cv2
except ImportError:
    cv2 = None  # type: ignore[assignment]

from depthmaster_ros.alignment.fit import open_interval_bounds
from depthmaster_ros.geometry import POINTS, CameraModel, float_array


@dataclass
class SparseDepthResult:
    depth: np.ndarray        # HxW float32 metres, NaN where no return
    num_in_view: int         # points inside the image and the depth range (before the z-buffer)
    num_occluded: int        # pixels removed by the occlusion filter
    pixels: np.ndarray       # ascending flat indices of the returns in depth (the fit need not scan for them)


def _points(points: ArrayLike, field: str) -> np.ndarray:
    return float_array(points, field, POINTS)


# Widening of the field-of-view box for the cull, as a share of its span: far above rounding, so
# the cull keeps every point that CameraModel.project would accept.
CULL_MARGIN = 0.01


def _empty(dtype: DTypeLike) -> float | int:
    """The value of an empty pixel, above every return: +inf, or the largest integer of the dtype."""
    return np.inf if np.dtype(dtype).kind == 'f' else np.iinfo(dtype).max


def _erode(image: np.ndarray, rows: int, cols: int, anchor_row: int, anchor_col: int) -> np.ndarray:
    """Minimum over a rows x cols box whose element (anchor_row, anchor_col) sits on the pixel; empty
    beyond the border (a grey erosion, as cv2.erode computes it)."""
    if cv2 is not None:
        return cv2.erode(image, np.ones((int(rows), int(cols)), np.uint8), anchor=(int(anchor_col), int(anchor_row)),
                         borderType=cv2.BORDER_CONSTANT, borderValue=_empty(image.dtype))
    return _erode_numpy(image, ((int(rows), int(anchor_row)), (int(cols), int(anchor_col))))


def _erode_numpy(image: np.ndarray, boxes: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    """The same erosion without OpenCV: the box is separable into a column pass and a row pass."""
    result = image
    for axis, (size, anchor) in enumerate(boxes):
        padding: list[tuple[int, int]] = [(0, 0), (0, 0)]
        padding[axis] = (anchor, size - 1 - anchor)
        padded = np.pad(result, padding, constant_values=_empty(image.dtype))
        length = result.shape[axis]
        window = [padded[k:k + length] if axis == 0 else padded[:, k:k + length] for k in range(size)]
        result = np.minimum.reduce(window) if size > 1 else window[0].copy()
    return result


def _min_filter(filled: np.ndarray, window: int) -> np.ndarray:
    """Window minimum of an image holding its empty value where there is no return, centred as OpenCV
    centres it."""
    window = int(window)
    return _erode(filled, window, window, window // 2, window // 2)


def _rank_keys(depth: np.ndarray) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """(keys, metres): what the filter's erosions compare instead of the depths, and the map back.

    With fewer returns than uint16 values, all of them positive, the keys are the depths' ranks (ties
    broken by position): OpenCV erodes 16-bit images about twice as fast as float32 ones, and the
    smallest rank in a window is the smallest depth there, read back exactly from the sorted depths.
    Otherwise the keys are the depths themselves.
    """
    count = len(depth)
    if count >= _empty(np.uint16) or not depth.min() > 0:       # the packed sort below needs depth > 0
        return depth, lambda keys: keys
    # positive float32 bits order like the values: one sort of packed (depth, position) keys
    order = (depth.view(np.uint32).astype(np.int64) << 16) | np.arange(count)
    order.sort()
    order &= 0xFFFF
    keys = np.empty(count, np.uint16)
    keys[order] = np.arange(count, dtype=np.uint16)
    table = np.append(depth[order], np.float32(np.inf))      # the empty key reads +inf
    return keys, lambda minima: table[np.minimum(minima, count)]


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
    rows, cols = np.divmod(np.asarray(pixel, np.int64), width)
    same_row = rows[1:] == rows[:-1]
    col_gaps = (cols[1:] - cols[:-1])[same_row]
    sampled = (cols * 2654435761) % 64 < 64 // SPACING_COLUMN_STEP
    by_column = np.sort((cols[sampled] << 32) | rows[sampled])     # column by column, rows in order
    s_rows, s_cols = by_column & 0xFFFFFFFF, by_column >> 32
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


def _reach(gap: float) -> int:
    """Pixels a support search spans along one direction: WINDOW_PER_LINE_GAP gaps (MIN_WINDOW unmeasured)."""
    return max(int(np.ceil(WINDOW_PER_LINE_GAP * gap)) if np.isfinite(gap) else MIN_WINDOW, 1)


def _support(band: np.ndarray, offset: np.ndarray, limit: np.ndarray, reach_h: int, reach_v: int,
             metres: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """How many of the four directions hold, within the next reach pixels (one pixel either side across),
    a return no farther than the limit.

    One erosion per axis serves both directions: a one-sided box of reach pixels starting at a pixel
    is read one pixel past the return (right, down) and reach pixels before it (left, up). The band
    has room for those reads on every side, so none wraps to another row or leaves the array.
    """
    width = band.shape[1]
    along_rows = _erode(band, 3, reach_h, 1, 0).ravel()      # rows r-1..r+1, columns c..c+reach-1
    along_cols = _erode(band, reach_v, 3, 0, 1).ravel()      # rows r..r+reach-1, columns c-1..c+1
    support = (metres(along_rows[offset + 1]) <= limit).astype(np.int8)
    support += metres(along_rows[offset - reach_h]) <= limit
    support += metres(along_cols[offset + width]) <= limit
    support += metres(along_cols[offset - reach_v * width]) <= limit
    return support


def occluded_returns(pixel: np.ndarray, depth: np.ndarray, shape: tuple[int, int], max_window: int,
                     rel_threshold: float) -> np.ndarray:
    """Mask over the returns (sorted flat pixels, one depth each) that the occlusion filter rejects.

    Only a band around the returns is built and filtered (it may reach past the image): it is exact,
    because every pixel outside it is empty like the border.
    """
    width = shape[1]
    if len(pixel) == 0:
        return np.zeros(0, bool)
    row_gap, col_gap = scan_spacing(pixel, width)
    reach_h, reach_v = _reach(col_gap), _reach(row_gap)
    rows, cols = np.divmod(pixel, width)
    top, left = int(rows.min()) - reach_v, int(cols.min()) - reach_h
    depth = depth.astype(np.float32)
    keys, metres = _rank_keys(depth)
    band = np.full((int(rows.max()) + 2 - top, int(cols.max()) + 2 - left), _empty(keys.dtype), keys.dtype)
    offset = (rows - top) * band.shape[1] + (cols - left)
    band.ravel()[offset] = keys
    factor = np.float32(1.0 + rel_threshold)
    supported = _support(band, offset, factor * depth, reach_h, reach_v, metres) >= SUPPORT_DIRECTIONS
    band.fill(_empty(keys.dtype))                      # the band again, holding the occluders only
    band.ravel()[offset[supported]] = keys[supported]
    window = occlusion_window_for(row_gap, max_window)
    return depth > factor * metres(_min_filter(band, window).ravel()[offset])


def _nearest_per_pixel(pixel: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _check_occlusion_settings(window: int, rel_threshold: float) -> None:
    if window < 1:
        raise AlignmentError(f'occlusion_window: must be >= 1, got {window}')
    if rel_threshold < 0:
        raise AlignmentError(f'occlusion_rel_threshold: must be >= 0, got {rel_threshold}')


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


def _cull_outside_view(points: np.ndarray, camera: CameraModel, min_depth: float,
                       max_depth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        raise AlignmentError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
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
        return SparseDepthResult(depth, 0, 0, np.zeros(0, np.int64))
    pixel, z = _nearest_per_pixel(rows * camera.width + cols, z)
    num_occluded = 0
    if occlusion_window > 1:
        occluded = occluded_returns(pixel, z, depth.shape, occlusion_window, occlusion_rel_threshold)
        num_occluded = int(occluded.sum())
        pixel, z = pixel[~occluded], z[~occluded]
    depth.ravel()[pixel] = z
    return SparseDepthResult(depth, num_in_view, num_occluded, pixel)
