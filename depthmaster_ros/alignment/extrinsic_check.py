"""Is the LiDAR where the extrinsic says? Residuals that follow image position give it away.

A wrong LiDAR-to-camera rotation (or a stamp offset while the robot turns or pitches) moves every
projected sample by about the same number of pixels, so the samples agree best with the prediction
somewhere else. The check moves the sample positions by whole pixels along rows and columns, fits a
line at each offset and scores it by the median absolute residual; an offset that clearly beats
none is reported as a pitch (rows) or yaw (columns) error. It is cheap: a subset of the samples far
enough from the border for every offset, and all offsets of one axis as one array (one gather, one
batch of least-squares lines, one partition for the medians); the score of the chosen offset is
read from those batches whenever they used the same samples, so it is refitted only in the rare
case that they did not.
"""
from dataclasses import dataclass

import numpy as np

from .robust_start import MAD_TO_SIGMA, TUKEY_C

SEARCH_PX = 24                  # largest offset tried, pixels, each way
STEP_PX = 4
MIN_OFFSET_PX = 3               # smaller offsets are within projection and scan noise
IMPROVEMENT = 0.75              # the best offset's score must be below this share of the score at none
MAX_SAMPLES = 400
MIN_SAMPLES = 20
TRIM = 3.0                      # samples beyond this many median residuals leave the refit
AXIS_GAIN = 0.95                # an axis offset counts only when it lowers the score at least this much
# ties go to the smaller offset: offsets are tried in order of size
OFFSETS = np.array(sorted(range(-SEARCH_PX, SEARCH_PX + 1, STEP_PX), key=abs))


@dataclass
class ExtrinsicEstimate:
    rows_px: int = 0            # samples fit best this many rows down (pitch)
    cols_px: int = 0            # and this many columns right (yaw)
    improvement: float = 1.0    # best score / score at no offset

    @property
    def suspicious(self) -> bool:
        return max(abs(self.rows_px), abs(self.cols_px)) >= MIN_OFFSET_PX and self.improvement < IMPROVEMENT


def _median_residual(p: np.ndarray, t: np.ndarray, keep: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per row: |residual| of the least-squares line through (p[i], t) over the kept samples (all when
    keep is None), and its median over all samples."""
    if keep is None:
        p_mean = p.mean(axis=1, keepdims=True)
        pc, tc = p - p_mean, t - t.mean()
        var = (pc * pc).sum(axis=1)
        cov = (pc * tc).sum(axis=1)
    else:
        w_sum = keep.sum(axis=1, keepdims=True)
        p_mean = (keep * p).sum(axis=1, keepdims=True) / w_sum
        t_mean = (keep * t).sum(axis=1, keepdims=True) / w_sum
        pc, tc = p - p_mean, t - t_mean
        kept_pc = keep * pc
        var = (kept_pc * pc).sum(axis=1)
        cov = (kept_pc * tc).sum(axis=1)
    with np.errstate(divide='ignore', invalid='ignore'):
        slope = cov / var
    residual = np.abs(tc - slope[:, None] * pc)
    middle = residual.shape[1] // 2
    score = np.partition(residual, middle, axis=1)[:, middle]
    return residual, np.where(np.isfinite(score) & (var > 0), score, np.inf)


def _scores(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per row of pred (one offset each): median absolute residual of a trimmed least-squares line.

    The line is refitted without the samples beyond TRIM medians of the first fit, so gross outliers
    (LiDAR see-through, spurious returns) neither pull the line nor decide the score.
    """
    residual, score = _median_residual(pred, target, None)
    keep = (residual <= TRIM * score[:, None]).astype(np.float64)
    return _median_residual(pred, target, keep)[1]


def estimate_offset(relative: np.ndarray, index: np.ndarray, target: np.ndarray, seed: int = 0) -> ExtrinsicEstimate:
    """The pixel offset (rows, cols) at which the samples agree best with the relative map."""
    height, width = relative.shape
    rows, cols = np.divmod(index, width)
    inside = (rows >= SEARCH_PX) & (rows < height - SEARCH_PX) & (cols >= SEARCH_PX) & (cols < width - SEARCH_PX)
    rows, cols, target = rows[inside], cols[inside], target[inside]
    if len(rows) > MAX_SAMPLES:
        pick = np.random.default_rng(seed).choice(len(rows), MAX_SAMPLES, replace=False)
        rows, cols, target = rows[pick], cols[pick], target[pick]
    flat = relative.ravel()
    base_index = rows * width + cols
    by_rows_pred = flat[base_index[None, :] + (OFFSETS * width)[:, None]]
    keep = np.all(np.isfinite(by_rows_pred), axis=0)
    keep &= np.all(np.isfinite(flat[base_index[None, :] + OFFSETS[:, None]]), axis=0)
    if not keep.all():
        base_index, target, by_rows_pred = base_index[keep], target[keep], np.ascontiguousarray(by_rows_pred[:, keep])
    if len(target) < MIN_SAMPLES:
        return ExtrinsicEstimate()

    def scores(row_offsets: np.ndarray, col_offsets: np.ndarray) -> tuple[np.ndarray, bool]:
        """The scores, and whether every sample took part (off-axis moves may meet a hole in the map)."""
        pred = flat[base_index[None, :] + (row_offsets * width + col_offsets)[:, None]].astype(np.float64)
        finite = np.all(np.isfinite(pred), axis=0)
        if finite.all():
            return _scores(pred, target), True
        return _scores(np.ascontiguousarray(pred[:, finite]), target[finite]), False

    # every sample is finite at the row offsets (checked above), so all of them take part here
    by_rows = _scores(by_rows_pred.astype(np.float64), target)
    base = float(by_rows[0])                       # OFFSETS[0] is 0
    if not np.isfinite(base) or base <= 0:
        return ExtrinsicEstimate()
    best_rows = int(OFFSETS[int(np.argmin(by_rows))])
    at_rows = float(by_rows[int(np.argmin(by_rows))])
    by_cols, all_samples = scores(np.full_like(OFFSETS, best_rows), OFFSETS)
    best_cols = int(OFFSETS[int(np.argmin(by_cols))])
    if not float(by_cols.min()) < AXIS_GAIN * at_rows:
        best_cols = 0                                   # columns do not matter (or barely)
    rows_kept = at_rows < AXIS_GAIN * base
    if not rows_kept:
        best_rows = 0
    # The score at (best_rows, best_cols) from the batches when they held it, over the same samples.
    if best_cols == 0:
        best = at_rows if rows_kept else base
    elif rows_kept and all_samples:
        best = float(by_cols.min())
    else:
        best = float(scores(np.array([best_rows]), np.array([best_cols]))[0][0])
    return ExtrinsicEstimate(best_rows, best_cols, best / base)


GRADIENT_STEP_PX = 16           # the prediction's slope is taken over this many pixels each way
GRADIENT_MIN_PX = 6.0           # an offset this large (either axis; benchmark frames without one: <= 3.5) ...
GRADIENT_MIN_T = 5.0            # ... and this many standard errors from none is one
GRADIENT_PASSES = 4


def gradient_offset(relative: np.ndarray, index: np.ndarray, fitted: np.ndarray, target: np.ndarray,
                    scale: float) -> tuple[float, float] | None:
    """(rows, cols) by which the samples look moved, when the residuals follow the prediction's slope: None
    when they do not (see GRADIENT_MIN_PX and GRADIENT_MIN_T).

    A sample that belongs d pixels away holds the depth there: target / fitted - 1 ~ d . grad(fitted) / fitted
    (slopes over GRADIENT_STEP_PX). The robust least-squares d (Tukey IRLS started from the line's inliers, on
    MAX_SAMPLES evenly spread samples) sees offsets the search's medians drown: along a receding facade every
    sample's residual is small, but they all follow the slope.
    """
    height, width = relative.shape
    step = GRADIENT_STEP_PX
    if len(index) > MAX_SAMPLES:
        pick = np.linspace(0, len(index) - 1, MAX_SAMPLES).astype(np.int64)
        index, fitted, target = index[pick], fitted[pick], target[pick]
    rows, cols = np.divmod(index, width)
    inside = (rows >= step) & (rows < height - step) & (cols >= step) & (cols < width - step) & (fitted > 0)
    rows, cols, fitted, target = rows[inside], cols[inside], fitted[inside], target[inside]
    with np.errstate(all='ignore'):
        rho = target / fitted - 1.0
        slope = scale / (2 * step) / fitted
        design = np.column_stack([np.ones(len(rho)), (relative[rows, cols + step] - relative[rows, cols - step]) * slope,
                                  (relative[rows + step, cols] - relative[rows - step, cols]) * slope])
    keep = np.all(np.isfinite(design), axis=1) & np.isfinite(rho)
    if int(keep.sum()) < MIN_SAMPLES:
        return None
    design, rho = design[keep], rho[keep]
    centre = float(np.median(rho))
    spread = MAD_TO_SIGMA * float(np.median(np.abs(rho - centre)))
    weight = (np.abs(rho - centre) < TUKEY_C * spread).astype(np.float64)     # start: the line's inliers
    for _ in range(GRADIENT_PASSES):     # Tukey IRLS on the offset model's residual: moved samples come back
        weighted = design.T * weight
        try:
            covariance = np.linalg.inv(weighted @ design)
        except np.linalg.LinAlgError:
            return None
        coefficients = covariance @ (weighted @ rho)
        residual = rho - design @ coefficients
        sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual)))), 1e-12)
        weight = np.square(np.maximum(1.0 - np.square(residual / (TUKEY_C * sigma)), 0.0))
    kept = weight > 0
    error = np.sqrt(np.diag(covariance) * float(np.sum(weight * residual * residual)) / max(int(kept.sum()) - 3, 1))
    cols_px, rows_px = float(coefficients[1]), float(coefficients[2])
    found = [abs(d) >= GRADIENT_MIN_PX and abs(d) >= GRADIENT_MIN_T * e
             for d, e in ((cols_px, error[1]), (rows_px, error[2]))]
    return (rows_px, cols_px) if any(found) else None
