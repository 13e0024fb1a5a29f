"""Relative prediction -> metres: a robust, honest scale-and-shift fit in the model's own space.

The model predicts f(depth) up to an unknown scale and shift, where f is the space transform
(depth: d, disparity: 1/d, sqrt_disparity: sqrt(1/d)). Sparse metric depth (projected LiDAR or the
ground plane) is mapped into the same space, s and t are fitted so that s * pred + t ~ f(depth), and
the image is mapped back with depth = f^-1(s * pred + t) (for sqrt_disparity 1 / (s p + t)^2, as the
official DepthMaster evaluation does). Because the target is in the same space as the prediction,
the scale is positive for every space: a negative fit means the data contradict the model.

Steps: which samples to trust (robust_start.py: least median of squares, then Tukey IRLS), the line
through them without errors-in-variables bias and its block-jackknife scale uncertainty
(uncertainty.py), and whether to publish it (verdicts.py, the one place for those rules). Per-pixel
work (finding the samples, mapping the image to metres) runs on the image's own float32; the fit
runs in float64 on the samples only (at most max_points).
"""
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from depthmaster_ros.geometry import IMAGE, float64_array, float_array

from .apply import apply_alignment
from .errors import AlignmentError
from .extrinsic_check import estimate_offset, gradient_offset
from .local_fit import CELL as LOCAL_CELL
from .local_fit import local_correction_maps
from .record import AlignmentRecord
from .robust_start import TUKEY_C, robust_line, robust_sigma
from .sample_weights import representative_weights
from .spaces import check_space, from_space, to_space
from .uncertainty import errors_in_variables_line, grid_groups, regression_range, seen_image_share
from .verdicts import (
    MAX_SCALE_UNCERTAINTY,
    breakdown_ratio,
    extrinsic_verdict,
    fit_verdict,
    partition_quantiles,
    sample_verdict,
)

DEFAULT_SEED = 0
SPREAD_RELATIVE = 1e-3          # 5-95 % spread below this share of the median: no spread
MAX_POINTS = 2000                # samples fitted; more are thinned (region errors, not counts, limit the fit)
METHODS = ('global', 'local')    # local: a correction map on top of the global fit (local_fit.py)
# Residuals below this share of the targets' spread are exact data, not a broken start's tight core.
BREAKDOWN_NOISE_FLOOR = 0.01
EVALUATION_QUANTILES = (0.25, 0.5, 0.75)    # of the prediction, where the scale uncertainty is judged


def least_squares_scale_shift(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Plain least squares s, t minimising sum (s * pred + t - target)^2 (non-robust)."""
    design = np.stack([pred, np.ones_like(pred)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(scale), float(shift)


def _sorted_quantile(ordered: np.ndarray, q: float) -> float:
    """np.percentile(values, 100 q) (linear interpolation) from the sorted values."""
    position = q * (len(ordered) - 1)
    low, high = int(np.floor(position)), int(np.ceil(position))
    a, b = float(ordered[low]), float(ordered[high])
    return a if a == b else a + (b - a) * (position - low)


def spread_and_median(values: np.ndarray) -> tuple[float, float]:
    """(5-95 % range, median) of the values, from one sort: the spread robust_line takes."""
    ordered = np.sort(values)
    return _sorted_quantile(ordered, 0.95) - _sorted_quantile(ordered, 0.05), _sorted_quantile(ordered, 0.5)


def _has_spread(spread: float, median: float) -> bool:
    return spread > SPREAD_RELATIVE * max(abs(float(median)), 1e-12)


def fit_samples(pred: ArrayLike, target: ArrayLike, space: str = 'depth', *, min_points: int = 20,
                seed: int = DEFAULT_SEED, max_scale_uncertainty: float = MAX_SCALE_UNCERTAINTY,
                groups: ArrayLike | None = None, eval_pred: np.ndarray | None = None,
                seen_share: float = 1.0, weights: ArrayLike | None = None,
                start: tuple[float, float] | None = None) -> AlignmentRecord:
    """Robust s, t with s * pred + t ~ target, both in `space`; pairs holding NaN are ignored.

    groups: the image region of each sample (for the block jackknife; default: interleaved groups);
    eval_pred: prediction values where the scale uncertainty is judged (default: the samples'
    quartiles); seen_share: the share of the image the samples see (uncertainty.seen_image_share);
    weights: how much each sample counts in the published line (sample_weights.py; default: alike),
    not in which samples are inliers; start: a consensus line (scale, shift) the samples were chosen by, where
    the robust refinement begins (robust_start.robust_line). Returns the AlignmentRecord of the fit, ok=False
    with the reason from verdicts.py; rmse_m is over inliers, in metres; scale_uncertainty is published whenever
    a line was fitted.
    """
    space = check_space(space)
    pred_v = float64_array(pred, 'pred').ravel()
    target_v = float64_array(target, 'target').ravel()
    if pred_v.shape != target_v.shape:
        raise AlignmentError(f'target: {target_v.size} values but pred has {pred_v.size}')
    groups_v = np.arange(len(pred_v)) if groups is None else np.asarray(groups).ravel()
    if groups_v.shape != pred_v.shape:
        raise AlignmentError(f'groups: {groups_v.size} values but pred has {pred_v.size}')
    if groups_v.dtype.kind not in 'iu' or (len(groups_v) and groups_v.min() < 0):
        groups_v = np.unique(groups_v, return_inverse=True)[1].ravel()     # labels 0..k-1 for bincount
    weights_v = None if weights is None else float64_array(weights, 'weights').ravel()
    if weights_v is not None and (weights_v.shape != pred_v.shape or not np.all(weights_v > 0)):
        raise AlignmentError(f'weights: need {pred_v.size} positive values, got {weights_v.size} '
                             f'(smallest {weights_v.min() if weights_v.size else "none"})')
    usable = np.isfinite(pred_v) & np.isfinite(target_v)
    if not usable.all():
        pred_v, target_v, groups_v = pred_v[usable], target_v[usable], groups_v[usable]
        weights_v = None if weights_v is None else weights_v[usable]
    result = AlignmentRecord(space=space.value, num_points=int(len(pred_v)))
    min_needed = max(int(min_points), 2)
    enough = len(pred_v) >= min_needed
    target_spread, target_median = spread_and_median(target_v) if enough else (0.0, 0.0)
    result.reason = sample_verdict(space, len(pred_v), min_needed, enough and _has_spread(target_spread, target_median),
                                   enough and _has_spread(*spread_and_median(pred_v)))
    if result.reason:
        return result
    scale, shift, inliers = robust_line(pred_v, target_v, np.random.default_rng(seed), target_spread, start)
    result.scale, result.shift = scale, shift
    result.num_inliers = int(inliers.sum())
    breakdown, line_r2, line = 1.0, 1.0, None
    pred_in, target_in = pred_v[inliers], target_v[inliers]
    inlier_weights = None if weights_v is None else weights_v[inliers]
    if np.isfinite(scale) and np.isfinite(shift) and scale > 0 and result.num_inliers >= min_needed:
        breakdown = breakdown_ratio(scale * pred_v + shift - target_v, floor=BREAKDOWN_NOISE_FLOOR * max(target_spread, 1e-12))
        if eval_pred is None:
            eval_pred = np.quantile(pred_v, EVALUATION_QUANTILES)
        line = errors_in_variables_line(pred_in, target_in, groups_v[inliers], space, eval_pred, from_space,
                                        seen_share, inlier_weights)
        if np.isfinite(line.scale) and np.isfinite(line.shift) and line.scale > 0:
            result.scale, result.shift = line.scale, line.shift
        result.scale_uncertainty, line_r2 = line.uncertainty, line.support_r2
    result.reason = fit_verdict(space, len(pred_v), min_needed, result.scale, result.shift, result.num_inliers,
                                result.scale_uncertainty, max_scale_uncertainty, breakdown=breakdown,
                                support_r2=line_r2)
    if result.reason:       # a refused line may also be as far off as the forward and inverse regressions differ
        result.scale_uncertainty += float('inf') if line is None or eval_pred is None else regression_range(
            pred_in, target_in, inlier_weights, line, space, eval_pred, from_space)
        return result
    fitted_m = from_space(result.scale * pred_in + result.shift, space)
    target_m = from_space(target_in, space)
    errors = fitted_m - target_m
    squared = errors * errors
    if np.isfinite(squared).all():      # then nanmean is mean, at a quarter of the cost
        result.rmse_m = float(np.sqrt(squared.mean()))
    else:
        result.rmse_m = float(np.sqrt(np.nanmean(squared))) if np.any(np.isfinite(errors)) else float('nan')
    result.ok = True
    return result


def open_interval_bounds(dtype: DTypeLike, low: float, high: float) -> tuple[float, float]:
    """(low', high') such that low < x < high in exact arithmetic iff low' < x < high' in dtype.

    Comparing float32 pixels with float64 limits would round the limits; for float32 the limits are
    rounded outwards instead, so no value changes side.
    """
    low, high = float(low), float(high)
    if np.dtype(dtype) != np.float32:
        return low, high
    with np.errstate(over='ignore'):
        low32, high32 = np.float32(low), np.float32(high)
    if float(low32) > low:
        low32 = np.nextafter(low32, np.float32(-np.inf))
    if float(high32) < high:
        high32 = np.nextafter(high32, np.float32(np.inf))
    return float(low32), float(high32)


def sample_indices(relative: np.ndarray, sparse: np.ndarray, min_depth: float, max_depth: float, max_points: int,
                   seed: int, pixels: ArrayLike | None = None) -> np.ndarray:
    """Flat indices of the fit's samples: sparse strictly inside the limits and relative finite.

    Found on the sparse image first (few pixels hold a sample), or only among `pixels` (ascending flat
    indices that include every sample, as the LiDAR projection knows them: no scan of the image); more
    than max_points are thinned to a seeded subset, in image order.
    """
    low, high = open_interval_bounds(sparse.dtype, min_depth, max_depth)
    flat_sparse = sparse.ravel()
    if pixels is None:
        index = np.flatnonzero(flat_sparse > low)
        index = index[flat_sparse[index] < high]
    else:
        index = checked_pixels(pixels, flat_sparse.size)
        depth = flat_sparse[index]
        index = index[(depth > low) & (depth < high)]
    return thin_samples(index[np.isfinite(relative.ravel()[index])], max_points, seed)


def checked_pixels(pixels: ArrayLike, size: int) -> np.ndarray:
    """The sample pixels as flat int64 indices of an image of `size` pixels, or a ValueError naming them."""
    index = np.asarray(pixels).ravel()
    if index.dtype.kind not in 'iu' or (len(index) and not (0 <= index.min() and index.max() < size)):
        raise AlignmentError(f'sample_pixels: need flat pixel indices in [0, {size}), got {index.dtype} '
                             f'{index.min() if index.size else ""}..{index.max() if index.size else ""}')
    return index.astype(np.int64, copy=False)


def thin_samples(index: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """The sample indices, or max_points of them evenly spread over their image order (a seeded start).

    Even spacing keeps every region of the image represented in proportion (a random subset leaves
    holes and clumps that move the line more than the count does).
    """
    if len(index) > max_points:
        start = _thinning_start(seed)
        index = index[((np.arange(int(max_points)) + start) * (len(index) / int(max_points))).astype(np.int64)]
    return index


@lru_cache(maxsize=8)
def _thinning_start(seed: int) -> float:
    """The seeded start of the thinning (made once per seed: a generator costs more than the thinning)."""
    return float(np.random.default_rng(seed).random())


EVALUATION_STRIDE = 8


def _check_extrinsic(result: AlignmentRecord, relative: np.ndarray, index: np.ndarray, pred: np.ndarray,
                     target: np.ndarray, space: str, min_points: int, seed: int, focal_px: float | None,
                     eval_pred: np.ndarray | None) -> int:
    """Report a sample offset (extrinsic_check.py); refuse the fit when the offset moves its scale beyond
    the published uncertainty (the verdict rule is verdicts.extrinsic_verdict). Returns the offset's
    larger component in pixels (0 when none was found).

    A refused fit then publishes how far the offset fit is from it at the evaluation points, plus that
    fit's own uncertainty: the true scale is the offset fit's, as far as the samples can tell.
    """
    estimate = estimate_offset(relative, index, target, seed)
    if not estimate.suspicious:
        return 0
    focal = float(focal_px) if focal_px else float('nan')
    result.extrinsic_pitch_deg = float(np.degrees(np.arctan2(estimate.rows_px, focal)))
    result.extrinsic_yaw_deg = float(np.degrees(np.arctan2(estimate.cols_px, focal)))
    height, width = relative.shape
    rows = np.clip(index // width + estimate.rows_px, 0, height - 1)
    cols = np.clip(index % width + estimate.cols_px, 0, width - 1)
    moved = fit_samples(relative.ravel()[rows * width + cols].astype(np.float64), target, space,
                            min_points=min_points, seed=seed)
    scale_change, offset_error = float('inf'), float('inf')
    if moved.ok:
        at = np.median(pred) if eval_pred is None else eval_pred
        with np.errstate(all='ignore'):
            moved_depth = from_space(moved.scale * at + moved.shift, space)
            offset_error = float(np.max(np.abs(moved_depth / from_space(result.scale * at + result.shift, space) - 1)))
        offset_error += moved.scale_uncertainty
        here = from_space(result.scale * np.median(pred) + result.shift, space)
        there = from_space(moved.scale * np.median(pred) + moved.shift, space)
        scale_change = abs(float(there / here) - 1.0)
    result.reason = extrinsic_verdict(estimate.rows_px, estimate.cols_px, scale_change, result.scale_uncertainty)
    result.ok = not result.reason
    if result.reason:
        result.scale_uncertainty = max(result.scale_uncertainty, offset_error)
    return max(abs(int(estimate.rows_px)), abs(int(estimate.cols_px)))


def evaluation_points(relative: np.ndarray, stride: int = EVALUATION_STRIDE) -> np.ndarray | None:
    """Quartiles of the prediction over the image (every stride-th pixel): where the uncertainty is judged."""
    values = relative[::stride, ::stride].ravel()
    values = values[np.isfinite(values)].astype(np.float64)
    if not len(values):
        return None
    last = len(values) - 1
    return np.array(partition_quantiles(values, tuple(q * last for q in EVALUATION_QUANTILES)))


def fit_to_sparse_depth(relative: ArrayLike, space: str, sparse_depth: ArrayLike, *, min_depth: float = 0.1,
                        max_depth: float = 100.0, min_points: int = 20, max_points: int = MAX_POINTS,
                        seed: int = DEFAULT_SEED, method: str = 'global', focal_px: float | None = None,
                        check_extrinsic: bool = False, sample_pixels: ArrayLike | None = None,
                        start: tuple[float, float] | None = None) -> AlignmentRecord:
    """The AlignmentRecord of fitting relative (HxW) to sparse metres (same HxW, NaN where empty).

    method 'global': one scale and shift; 'local': the global fit, then a scale and shift per
    neighbourhood that follow the prediction's edges (local_fit.py; `result.local_correction` holds the
    HxW maps), global where samples are sparse, and global altogether when the samples are found a cell or
    more away from where they belong (then `result.method` says 'global'). focal_px (the camera's focal
    length at this size) turns a detected sample offset into the reported pitch/yaw error in degrees;
    check_extrinsic runs that check (for sensor samples; virtual ones such as the ground plane have none).
    sample_pixels: ascending flat indices that include every sample (the LiDAR projection's), so the
    image is not scanned for them; the result is the same. start: a consensus line (scale, shift) through the
    samples that chose them (the floor selection's), where the robust fit begins instead of its own draw.
    """
    space = check_space(space)
    if method not in METHODS:
        raise AlignmentError(f'method: expected one of {METHODS}, got {method!r}')
    relative = float_array(relative, 'relative', IMAGE)
    sparse = float_array(sparse_depth, 'sparse_depth', IMAGE)
    if sparse.shape != relative.shape:
        raise AlignmentError(f'sparse_depth: shape {sparse.shape} differs from relative shape {relative.shape}')
    if not (0 <= min_depth < max_depth):
        raise AlignmentError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    index = sample_indices(relative, sparse, min_depth, max_depth, max_points, seed, sample_pixels)
    pred = relative.ravel()[index].astype(np.float64)
    target = to_space(sparse.ravel()[index], space)
    groups, eval_pred = grid_groups(index, relative.shape), evaluation_points(relative)
    result = fit_samples(pred, target, space, min_points=min_points, seed=seed, groups=groups,
                         eval_pred=eval_pred, seen_share=seen_image_share(groups),
                         weights=representative_weights(index, relative.shape), start=start)
    result.method = method
    offset_px = 0
    if check_extrinsic and result.ok:
        offset_px = _check_extrinsic(result, relative, index, pred, target, space, min_points, seed, focal_px,
                                     eval_pred)
    if result.ok and method == 'local' and (offset_px >= LOCAL_CELL or check_extrinsic and gradient_offset(
            relative, index, result.scale * pred + result.shift, target, result.scale) is not None):
        # The samples sit a cell or more from where they agree with the prediction, or their residuals follow
        # its slope (an offset the search did not resolve): a local correction would put each one's depth onto
        # the wrong pixels (a receding facade, an object's edge) and held-out samples, moved alike, cannot
        # tell. The global line survives that; the record says the frame fell back to it.
        result.method = 'global'
    elif result.ok and method == 'local':
        residual = result.scale * pred + result.shift - target
        finite = np.isfinite(residual)
        inliers = finite & (np.abs(residual) < TUKEY_C * robust_sigma(residual[finite], 1e-12))
        result.local_correction = local_correction_maps(relative, index, pred, target, result.scale,
                                                        result.shift, inliers)
        if result.local_correction is None:     # too few samples, or held-out samples prefer the line
            result.method = 'global'
    return result


def metric_depth_from_sparse(relative: ArrayLike, space: str, sparse_depth: ArrayLike, *, min_depth: float = 0.1,
                             max_depth: float = 100.0, min_points: int = 20, max_points: int = MAX_POINTS,
                             seed: int = DEFAULT_SEED, method: str = 'global', focal_px: float | None = None,
                             check_extrinsic: bool = False, sample_pixels: ArrayLike | None = None,
                             start: tuple[float, float] | None = None) -> tuple[np.ndarray, AlignmentRecord]:
    """Fit relative to sparse metres (same HxW, NaN where empty) and apply it: (metres, AlignmentRecord).

    The fit is `fit_to_sparse_depth` (same arguments); the metres are `apply_alignment` of its scale and
    shift, or of its local correction maps when the method made them; all NaN when the fit is refused.
    """
    result = fit_to_sparse_depth(relative, space, sparse_depth, min_depth=min_depth, max_depth=max_depth,
                                 min_points=min_points, max_points=max_points, seed=seed, method=method,
                                 focal_px=focal_px, check_extrinsic=check_extrinsic, sample_pixels=sample_pixels,
                                 start=start)
    if not result.ok:
        return np.full(np.shape(relative), np.nan, np.float32), result
    scale, shift = result.scale_shift()
    return apply_alignment(relative, space, scale, shift, min_depth, max_depth), result
