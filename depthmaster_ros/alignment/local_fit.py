"""Local alignment: a spatially varying scale and shift on top of the global fit, training-free.

A real model's error is not affine: after the global fit, the residuals at the samples vary slowly
across the image (a tilted or bent depth field) and jump at objects. Here every neighbourhood gets its
own correction that is *affine in the prediction*: c(p) = a (p - p_mean) + b, fitted by ridge
regression to the residuals of the samples near it (Gaussian weights over CELL-pixel cells). Because
the correction is a function of the prediction's value, it changes exactly where the prediction has
an edge and does not smear a foreground object's correction onto the background beside it. The ridge
pulls a and b to zero where the neighbourhood holds few samples (PRIOR_SAMPLES), so sparse regions fall
back to the global fit. The per-cell scale s + a and shift t + b - a p_mean are upsampled bilinearly and
applied per pixel: one multiply-add more per pixel than the global fit.

Only the global fit's inliers take part (outliers would bend the correction locally).
"""
import numpy as np

CELL = 16                       # pixels per grid cell
SIGMA_CELLS = 1.5               # Gaussian neighbourhood, in cells
PRIOR_SAMPLES = 4.0             # ridge weight of "no correction", in samples
SLOPE_PRIOR_SPREAD = 0.1        # the slope's ridge as if the prior had this share of the pred spread
MIN_SAMPLES = 20


def local_scale_shift(shape: tuple[int, int], index: np.ndarray, pred: np.ndarray, target: np.ndarray,
                      scale: float, shift: float, inliers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel (scale, shift) float32 maps; None when too few inliers to correct anything."""
    if int(inliers.sum()) < MIN_SAMPLES:
        return None
    import cv2      # only the local method needs OpenCV (the device check runs without it)
    height, width = shape
    rows, cols = (height + CELL - 1) // CELL, (width + CELL - 1) // CELL
    index, p = index[inliers], pred[inliers]
    e = target[inliers] - (scale * p + shift)
    cell = (index // width // CELL) * cols + (index % width) // CELL
    p_ref = float(np.median(p))
    pc = p - p_ref
    sums = [np.bincount(cell, weights=w, minlength=rows * cols).reshape(rows, cols).astype(np.float32)
            for w in (np.ones_like(pc), pc, e, pc * pc, pc * e)]
    blurred = [cv2.GaussianBlur(s, (0, 0), SIGMA_CELLS, borderType=cv2.BORDER_CONSTANT) for s in sums]
    w, sp, se, spp, spe = (np.asarray(s, np.float64) for s in blurred)
    spread = float(np.subtract(*np.percentile(p, [95, 5])))
    with np.errstate(divide='ignore', invalid='ignore'):
        mean_p = np.where(w > 1e-9, sp / w, 0.0)
        var = spp - sp * mean_p
        cov = spe - se * mean_p
        slope = cov / (var + PRIOR_SAMPLES * (SLOPE_PRIOR_SPREAD * spread) ** 2)
        offset = se / (w + PRIOR_SAMPLES)
    slope = np.where(np.isfinite(slope), slope, 0.0)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    cell_scale = (scale + slope).astype(np.float32)
    cell_shift = (shift + offset - slope * (mean_p + p_ref)).astype(np.float32)
    size = (cols * CELL, rows * CELL)
    scale_map = cv2.resize(cell_scale, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
    shift_map = cv2.resize(cell_shift, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
    return scale_map, shift_map
