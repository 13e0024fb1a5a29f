"""The published scale and shift, and how far to trust them.

Errors in variables: the prediction is the noisy variable (a model's error is several per cent, a
LiDAR's about one), so regressing the targets on it shrinks the slope towards zero when the depth
support is narrow (the classical attenuation). The line is fitted with Deming regression instead,
with the ratio of the two noise variances from an assumed target noise (TARGET_RELATIVE_NOISE of the
depth) and the prediction's noise read off the residuals; with an exact target it is the inverse
regression (prediction on target), with an exact prediction the ordinary one.

Uncertainty: a block jackknife over image regions. The samples are grouped by where they lie in the
image (a grid), each group is left out in turn and the line refitted; the spread of the depth that
those lines give at the prediction's quartiles is the uncertainty. Spatially structured residuals
(a non-affine model error, a wrong extrinsic, a narrow band) move the leave-one-out fits and widen
it, where a per-sample standard error would not. Published: COVERAGE_FACTOR jackknife standard errors
of the relative metric depth (the largest over the evaluation points), combined with a floor for the
prediction's own non-affine error (UNCERTAINTY_FLOOR where the samples see the image, UNSEEN_MODEL_ERROR
more in proportion to the image regions without a sample: floor samples or a LiDAR band cannot tell how
the model errs elsewhere), and divided by the samples' r squared: the forward and the inverse
regressions differ by exactly that factor, so a weak correlation leaves the slope as uncertain as the
choice between them. `regression_range` is that choice in metres, which a refused fit adds (fit.py).
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .robust_start import median_last_axis
from .spaces import Space

TARGET_RELATIVE_NOISE = 0.01
# |d log f / d log depth| of the space transform: a relative depth error e is e * this in the space
SPACE_EXPONENT: dict[str, float] = {Space.DEPTH: 1.0, Space.DISPARITY: 1.0, Space.SQRT_DISPARITY: 0.5}
COVERAGE_FACTOR = 3.0
UNCERTAINTY_FLOOR = 0.01
# The prediction's non-affine error in image regions that hold no sample: a model's depth error varies
# by several per cent across an image, and samples that see part of it (the floor only, a LiDAR's
# band of rows) cannot tell how the rest differs.
UNSEEN_MODEL_ERROR = 0.05
GRID = 4                        # the jackknife groups: GRID x GRID image regions
MIN_GROUPS = 6                  # fewer occupied regions: groups interleave the samples instead
PRED_NOISE_FLOOR = 0.05         # the prediction keeps at least this share of the residual variance


@dataclass
class LineEstimate:
    scale: float
    shift: float
    uncertainty: float          # relative metric depth, COVERAGE_FACTOR standard errors
    support_r2: float           # squared correlation of prediction and target over the samples


def grid_groups(index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Jackknife group of each flat pixel index: its cell of a GRID x GRID split of the image."""
    height, width = shape
    rows, cols = index // width, index % width
    result: np.ndarray = (rows * GRID // height) * GRID + cols * GRID // width
    return result


def seen_image_share(groups: np.ndarray) -> float:
    """Share of the GRID x GRID image regions (grid_groups) that hold at least one sample."""
    return np.count_nonzero(np.bincount(groups, minlength=GRID * GRID)) / (GRID * GRID)


def _group_sums(p: np.ndarray, t: np.ndarray, groups: np.ndarray, w: np.ndarray, wp: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """Per group: weight and the weighted sums of p, t, pp, pt, tt (p and t already centred; wp = w p, wt = w t)."""
    sums = np.stack([np.bincount(groups, weights=v) for v in (w, wp, wt, wp * p, wp * t, wt * t)])
    return sums[:, sums[0] > 0]


def _deming(sums: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """(slope, centred intercept) of the Deming line from moment sums (columns: alternative sample sets)."""
    n, sp, st, spp, spt, stt = sums
    with np.errstate(divide='ignore', invalid='ignore'):
        sxx, syy, sxy = spp - sp * sp / n, stt - st * st / n, spt - sp * st / n
        if np.isinf(delta):                     # an exact prediction: the ordinary regression
            slope = sxy / sxx
        else:
            d = syy - delta * sxx
            root = np.sqrt(d * d + 4 * delta * sxy * sxy)
            # the two algebraically equal forms, each where it does not cancel
            slope = np.where(d >= 0, (d + root) / (2 * sxy), 2 * delta * sxy / (root - d))
        return slope, st / n - slope * sp / n


def regression_range(pred: np.ndarray, target: np.ndarray, weights: np.ndarray | None, line: LineEstimate,
                     space: str, eval_pred: np.ndarray, from_space: Callable[[Any, str], np.ndarray]) -> float:
    """Largest relative depth difference between the line and the forward or the inverse regression of the
    (weighted) samples at the evaluation points: how far off a line may be whose support is too narrow
    to choose between them (inf where a line leaves the space)."""
    w = np.ones(len(pred)) if weights is None else weights
    p_mean, t_mean = float(w @ pred) / w.sum(), float(w @ target) / w.sum()
    wp, t = w * (pred - p_mean), target - t_mean
    sxx, sxy, syy = float(wp @ (pred - p_mean)), float(wp @ t), float((w * t) @ t)
    eval_pred = np.asarray(eval_pred, np.float64)
    with np.errstate(all='ignore'):
        slopes = np.array([sxy, syy]) / np.array([sxx, sxy])
        lines = from_space(slopes[:, None] * (eval_pred[None, :] - p_mean) + t_mean, space)
        deviation = np.abs(lines / from_space(line.scale * eval_pred + line.shift, space)[None, :] - 1.0)
    return float(deviation.max()) if deviation.size and np.all(np.isfinite(deviation)) else float('inf')


def errors_in_variables_line(pred: np.ndarray, target: np.ndarray, groups: np.ndarray, space: str,
                             eval_pred: np.ndarray, from_space: Callable[[Any, str], np.ndarray],
                             seen_share: float = 1.0, weights: np.ndarray | None = None) -> LineEstimate:
    """Deming line through the inlier samples and its block-jackknife uncertainty (see the module notes)."""
    w = np.ones(len(pred)) if weights is None else weights * (len(pred) / weights.sum())
    p_mean, t_mean = float(w @ pred) / len(pred), float(w @ target) / len(pred)
    p, t = pred - p_mean, target - t_mean
    n = len(p)
    wp, wt = w * p, w * t
    sxx, syy, sxy = float(wp @ p), float(wt @ t), float(wp @ t)
    if not (sxx > 0 and syy > 0 and sxy != 0):
        return LineEstimate(float('nan'), float('nan'), float('inf'), 0.0)
    r2 = sxy * sxy / (sxx * syy)
    ols_slope = sxy / sxx
    residual_var = syy * (1.0 - r2) / max(n - 2, 1)
    target_var = (TARGET_RELATIVE_NOISE * SPACE_EXPONENT[space] * float(median_last_axis(np.abs(target)))) ** 2
    pred_var = max(residual_var - target_var, PRED_NOISE_FLOOR * residual_var) / (ols_slope * ols_slope)
    delta = target_var / pred_var if pred_var > 0 else np.inf
    if np.count_nonzero(np.bincount(groups)) < MIN_GROUPS:
        groups = np.arange(n) % (GRID * GRID)
    per_group = _group_sums(p, t, groups, w, wp, wt)
    count = per_group.shape[1]
    left_out = per_group.sum(axis=1, keepdims=True) - per_group
    # the line of all samples (column 0) and every leave-one-group-out line, as one batch
    slopes, centreds = _deming(np.column_stack([np.array([n, 0.0, 0.0, sxx, sxy, syy]), left_out]), delta)
    slope, centred = float(slopes[0]), float(centreds[0])
    shift = t_mean + centred - slope * p_mean
    if count < 2:
        return LineEstimate(slope, shift, float('inf'), r2)
    eval_pred = np.asarray(eval_pred, np.float64)
    with np.errstate(all='ignore'):
        shifts = t_mean + centreds[1:] - slopes[1:] * p_mean
        depths = from_space(np.vstack([slope * eval_pred + shift,
                                       slopes[1:, None] * eval_pred[None, :] + shifts[:, None]]), space)
        deviation = depths[1:] / depths[:1] - 1.0
    if not np.all(np.isfinite(deviation)):
        return LineEstimate(slope, shift, float('inf'), r2)
    spread = deviation - deviation.mean(axis=0)
    variance = (count - 1) / count * (spread * spread).sum(axis=0)
    floor = UNCERTAINTY_FLOOR + UNSEEN_MODEL_ERROR * (1.0 - min(max(seen_share, 0.0), 1.0))
    uncertainty = np.hypot(COVERAGE_FACTOR * np.sqrt(variance.max()), floor) / r2
    return LineEstimate(slope, shift, float(uncertainty), r2)
