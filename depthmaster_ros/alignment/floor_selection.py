"""Which of the floor plane's pixels show floor: asked of the relative map itself.

The ground plane gives every downward ray the depth of the floor; walls, furniture and vehicles stand
in the way of many of them. The prediction knows which pixels are floor without knowing its scale: on
the floor, the prediction changes from row to row exactly as the floor plane's depth does (mapped into
the prediction's space), up to the one unknown scale, because the shift cancels in a difference. So the
ratio of the two vertical slopes is the same number on every floor pixel; a vertical face (a wall, the
front of a cabinet or a van) has almost no slope in the prediction (ratio near 0), a table top a larger
one (its plane is closer to the camera), a step or an edge something else. The floor's ratio is the
mode of the ratios over the plane's pixels, and the pixels kept are those within FLOOR_RATIO_TOLERANCE
of it whose neighbours agree (planarity and orientation of the floor against the expected up vector,
in the prediction's own terms). The robust fit then rejects what still stands on the floor (closer
than the plane by more than its noise).

Cost: at every STRIDE-th pixel, two blurs and a histogram; the mask is expanded back to full size.
"""
from dataclasses import dataclass

import numpy as np

STRIDE = 4
BLUR = 5                        # box blur (in strided pixels) before the slopes are taken
STEP = 2                        # strided rows between the two ends of a slope
FLOOR_RATIO_TOLERANCE = 0.2     # |log(ratio / floor ratio)| kept
MIN_RELATIVE_SLOPE = 1e-3       # plane slopes below this share of the plane's values are too flat to judge
HISTOGRAM_BINS = 60


@dataclass
class FloorSelection:
    depth: np.ndarray           # the floor plane's depth where the prediction shows floor, NaN elsewhere
    floor_share: float          # kept pixels / plane pixels (NaN without any plane pixel)


def _vertical_slope(values: np.ndarray) -> np.ndarray:
    """Central difference over STEP strided rows of the blurred values (NaN at the top and bottom)."""
    import cv2  # imported here: only the ground-plane mode needs OpenCV (the device check runs without it)
    blurred = cv2.blur(values, (BLUR, BLUR), borderType=cv2.BORDER_REPLICATE)
    slope = np.full_like(blurred, np.nan)
    slope[STEP:-STEP] = blurred[2 * STEP:] - blurred[:-2 * STEP]
    return slope


def select_floor(relative: np.ndarray, space: str, plane_depth: np.ndarray) -> FloorSelection:
    """The plane's pixels that the relative map shows as floor (see the module notes)."""
    from .spaces import to_space
    plane = np.isfinite(plane_depth)
    count = int(plane.sum())
    if count == 0:
        return FloorSelection(plane_depth, float('nan'))
    small_plane = plane_depth[::STRIDE, ::STRIDE]
    small_pred = np.asarray(relative, np.float32)[::STRIDE, ::STRIDE]
    usable = np.isfinite(small_plane) & np.isfinite(small_pred)
    # the plane in the prediction's space; off the plane (sky) its nearest far value, so blurs stay finite
    target = to_space(np.where(usable, small_plane, np.nanmax(small_plane) if usable.any() else 1.0), space)
    target = target.astype(np.float32)
    pred = np.where(usable, small_pred, np.float32(np.nanmedian(small_pred[usable]) if usable.any() else 0.0))
    target_slope, pred_slope = _vertical_slope(target), _vertical_slope(pred.astype(np.float32))
    with np.errstate(divide='ignore', invalid='ignore'):
        judged = usable & (np.abs(target_slope) > MIN_RELATIVE_SLOPE * np.abs(target))
        ratio = pred_slope / target_slope
        judged &= ratio > 0
        log_ratio = np.log(np.where(judged, ratio, 1.0))
    if judged.sum() < 10:
        return FloorSelection(plane_depth, 1.0)
    values = log_ratio[judged]
    low, high = np.quantile(values, [0.02, 0.98])
    histogram, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=(low, high + 1e-9))
    smooth = np.convolve(histogram, np.ones(3), mode='same')
    peak = int(np.argmax(smooth))
    floor_log_ratio = 0.5 * (edges[peak] + edges[peak + 1])
    near_peak = judged & (np.abs(log_ratio - floor_log_ratio) < FLOOR_RATIO_TOLERANCE)
    if near_peak.any():                                 # refine the mode to the mean of its neighbourhood
        floor_log_ratio = float(np.median(log_ratio[near_peak]))
    small_floor = judged & (np.abs(log_ratio - floor_log_ratio) < FLOOR_RATIO_TOLERANCE)
    # a floor pixel's neighbours are floor too: drop isolated agreements (edges crossing the ratio)
    import cv2
    small_floor = cv2.erode(small_floor.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    height, width = plane_depth.shape
    full = np.repeat(np.repeat(small_floor, STRIDE, axis=0), STRIDE, axis=1)[:height, :width]
    keep = plane & full
    depth = np.where(keep, plane_depth, np.float32(np.nan)).astype(np.float32)
    return FloorSelection(depth, float(keep.sum()) / count)
