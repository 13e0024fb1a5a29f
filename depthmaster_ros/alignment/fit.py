"""Relative prediction -> metres: a robust scale-and-shift fit in the model's own space.

The model predicts f(depth) up to an unknown scale and shift, where f is the space transform
(depth: d, disparity: 1/d, sqrt_disparity: sqrt(1/d)). Sparse metric depth (projected LiDAR or the
ground plane) is mapped into the same space, s and t are fitted so that s * pred + t ~ f(depth), and
the image is mapped back with depth = f^-1(s * pred + t) (for sqrt_disparity 1 / (s p + t)^2, as the
official DepthMaster evaluation does). Because the target is in the same space as the prediction,
the scale is positive for every space: a negative fit means the data contradict the model.

Robustness: least median of squares over random point pairs gives an outlier-free start (it breaks
down only beyond 50 % outliers), then iteratively reweighted least squares with Tukey's biweight,
its scale from the median absolute deviation, refines it using every inlier.

Cost: the fit runs in float64 on the samples only (at most max_points); the candidate lines of the
start are scored on a fixed seeded subset of at most LMEDS_SCORING_POINTS of them, which locates the
outlier-free line as well as all of them would and keeps the start cheap. Per-pixel work (finding
the samples, mapping the image to metres) runs on the image's own float32.
"""
from dataclasses import asdict, dataclass

import numpy as np

from depthmaster_ros.geometry.array_checks import IMAGE, float_array

SPACES = ('depth', 'disparity', 'sqrt_disparity')

# Tighter than the Gaussian-efficiency choice 4.685: outliers here (LiDAR see-through, obstacles
# over the floor plane) are one-sided, so moderate ones that a wide window keeps bias the fit.
TUKEY_C = 3.0
MAD_TO_SIGMA = 1.4826
DEFAULT_SEED = 0
LMEDS_HYPOTHESES = 100          # random point pairs, each a candidate line
LMEDS_SCORING_POINTS = 500      # samples that score the candidates (seeded subset when there are more)
IRLS_MAX_ITERATIONS = 30
# Relative step of scale and shift that ends the refinement. IRLS converges linearly, so stopping
# here leaves the scale within ~1.5e-4 of its limit: about ten times below the fit's own standard
# error (1-2e-3 on the synthetic scene with 2 % LiDAR noise), and two to four iterations instead of 30.
IRLS_TOLERANCE = 1e-4
SPREAD_RELATIVE = 1e-3          # 5-95 % spread below this share of the median: no spread
MAX_SCALE_UNCERTAINTY = 0.1


@dataclass
class AlignmentResult:
    ok: bool = False
    reason: str = ''
    scale: float = float('nan')
    shift: float = float('nan')
    num_points: int = 0
    num_inliers: int = 0
    rmse_m: float = float('nan')
    space: str = ''

    def as_dict(self):
        return asdict(self)


def _check_space(space):
    if space not in SPACES:
        raise ValueError(f'space: expected one of {SPACES}, got {space!r}')


def _float_array(values, field):
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f'{field}: not numeric ({error})') from None


def to_space(depth_m, space):
    """Metres -> space values; NaN where the depth is not positive and finite."""
    _check_space(space)
    depth = _float_array(depth_m, 'depth_m')
    with np.errstate(invalid='ignore', divide='ignore'):
        valid = np.isfinite(depth) & (depth > 0)
        safe = np.where(valid, depth, 1.0)
        if space == 'depth':
            values = safe
        elif space == 'disparity':
            values = 1.0 / safe
        else:
            values = np.sqrt(1.0 / safe)
    return np.where(valid, values, np.nan)


def from_space(values, space):
    """Space values -> metres; NaN where the inverse is not positive and finite."""
    _check_space(space)
    values = _float_array(values, 'values')
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        valid = np.isfinite(values) & (values > 0)
        safe = np.where(valid, values, 1.0)
        if space == 'depth':
            depth = safe
        elif space == 'disparity':
            depth = 1.0 / safe
        else:
            depth = 1.0 / (safe * safe)
        valid &= np.isfinite(depth) & (depth > 0)
    return np.where(valid, depth, np.nan)


def least_squares_scale_shift(pred, target):
    """Plain least squares s, t minimising sum (s * pred + t - target)^2 (non-robust)."""
    design = np.stack([pred, np.ones_like(pred)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(scale), float(shift)


class _WeightedLine:
    """Weighted least-squares lines through fixed samples, one matrix-vector product per weighting.

    The samples are centred once on their plain means, so the moment sums below lose no precision
    to cancellation (the weighted means stay close to the plain ones).
    """

    def __init__(self, pred, target):
        self.pred_mean, self.target_mean = float(pred.mean()), float(target.mean())
        p, t = pred - self.pred_mean, target - self.target_mean
        self.moments = np.stack([np.ones_like(p), p, t, p * p, p * t])

    def fit(self, weights):
        """(scale, shift) of the weighted fit; NaN when the weights leave no spread in pred."""
        w_sum, sum_p, sum_t, sum_pp, sum_pt = (self.moments @ weights).tolist()
        if not w_sum > 0:
            return np.nan, np.nan
        var_p = sum_pp - sum_p * sum_p / w_sum
        if not var_p > 0:
            return np.nan, np.nan
        scale = (sum_pt - sum_p * sum_t / w_sum) / var_p
        centred_shift = (sum_t - scale * sum_p) / w_sum
        return scale, self.target_mean + centred_shift - scale * self.pred_mean


def _median(values):
    """np.median along the last axis of NaN-free values, through one single-kth partition.

    (np.median partitions at two positions for even counts, several times slower.) The lower
    middle value is the largest one left of the upper middle after the partition.
    """
    count = values.shape[-1]
    middle = count // 2
    parted = np.partition(values, middle, axis=-1)
    upper = parted[..., middle]
    if count % 2:
        return upper
    return (parted[..., :middle].max(axis=-1) + upper) / 2


def lmeds_draws(count, rng):
    """(first, second, scoring): the point pairs of the candidate lines and the indices that score them.

    Drawn in this order from rng, so the torch mirror reproduces them; scoring is None when every
    point scores (count <= LMEDS_SCORING_POINTS).
    """
    first = rng.integers(0, count, LMEDS_HYPOTHESES)
    second = rng.integers(0, count, LMEDS_HYPOTHESES)
    scoring = rng.choice(count, LMEDS_SCORING_POINTS, replace=False) if count > LMEDS_SCORING_POINTS else None
    return first, second, scoring


def _least_median_start(pred, target, rng):
    """Best line through random point pairs by median absolute residual over the scoring subset."""
    first, second, scoring = lmeds_draws(len(pred), rng)
    dp = pred[second] - pred[first]
    usable = np.abs(dp) > 1e-12 * max(1.0, float(np.abs(pred).max()))
    with np.errstate(over='ignore', invalid='ignore'):
        scales = (target[second] - target[first]) / np.where(usable, dp, 1.0)
        shifts = target[first] - scales * pred[first]
    usable &= np.isfinite(scales) & np.isfinite(shifts)    # residuals then hold no NaN
    if not np.any(usable):
        return np.nan, np.nan
    scales, shifts = scales[usable], shifts[usable]
    score_pred, score_target = (pred, target) if scoring is None else (pred[scoring], target[scoring])
    residuals = np.multiply.outer(scales, score_pred)
    residuals += shifts[:, None]
    residuals -= score_target
    np.abs(residuals, out=residuals)
    best = int(np.argmin(_median(residuals)))
    return float(scales[best]), float(shifts[best])


def _robust_sigma(residual, sigma_floor):
    """MAD scale of the residuals (never below sigma_floor, so exact data do not divide by zero)."""
    return max(MAD_TO_SIGMA * float(_median(np.abs(residual - _median(residual)))), sigma_floor)


def _robust_scale_shift(pred, target, rng, target_spread):
    """(scale, shift, inlier mask): LMedS start, then Tukey IRLS (target_spread: its 5-95 % range)."""
    scale, shift = _least_median_start(pred, target, rng)
    if not np.isfinite(scale):
        return np.nan, np.nan, np.zeros(len(pred), bool)
    sigma_floor = 1e-6 * max(target_spread, 1e-12)
    line = _WeightedLine(pred, target)
    for _ in range(IRLS_MAX_ITERATIONS):
        residual = pred * scale
        residual += shift
        residual -= target
        # Tukey's biweight (1 - u^2)^2 inside |u| < 1, zero outside; u = residual / (c sigma)
        weights = np.square(residual)
        weights *= -1.0 / (TUKEY_C * _robust_sigma(residual, sigma_floor)) ** 2
        weights += 1.0
        np.fmax(weights, 0.0, out=weights)
        weights *= weights
        new_scale, new_shift = line.fit(weights)
        if not np.isfinite(new_scale):
            break
        converged = abs(new_scale - scale) <= IRLS_TOLERANCE * abs(scale) + 1e-15 and \
            abs(new_shift - shift) <= IRLS_TOLERANCE * (abs(shift) + abs(scale)) + 1e-15
        scale, shift = new_scale, new_shift
        if converged:
            break
    residual = scale * pred + shift - target
    return float(scale), float(shift), np.abs(residual) < TUKEY_C * _robust_sigma(residual, sigma_floor)


def _sorted_quantile(ordered, q):
    """np.percentile(values, 100 q) (linear interpolation) from the sorted values."""
    position = q * (len(ordered) - 1)
    low, high = int(np.floor(position)), int(np.ceil(position))
    a, b = float(ordered[low]), float(ordered[high])
    return a if a == b else a + (b - a) * (position - low)


def _spread(values):
    """(5-95 % range, median) of the values, from one sort."""
    ordered = np.sort(values)
    return _sorted_quantile(ordered, 0.95) - _sorted_quantile(ordered, 0.05), _sorted_quantile(ordered, 0.5)


def _has_spread(spread, median):
    return spread > SPREAD_RELATIVE * max(abs(float(median)), 1e-12)


def _relative_scale_uncertainty(pred, target, scale, shift):
    """Standard error of the fitted scale over its value (large when the points barely spread)."""
    residual = scale * pred + shift - target
    dof = max(len(pred) - 2, 1)
    sigma = np.sqrt((residual * residual).sum() / dof)
    spread = np.sqrt(((pred - pred.mean()) ** 2).sum())
    return float(sigma / spread / abs(scale)) if spread > 0 else float('inf')


def sample_verdict(space: str, count: int, min_needed: int, target_has_spread: bool,
                   pred_has_spread: bool) -> str:
    """Why the samples cannot be fitted ('' when they can); checked before any fit, in this order.

    One rule for this fit and for any other implementation of it (the benchmark's torch twin).
    """
    if count < min_needed:
        return f'too few points: {count} < {min_needed}'
    if not target_has_spread:
        return f'no depth spread: all {count} targets at one {space} value'
    if not pred_has_spread:
        return f'no spread in the prediction at the {count} points'
    return ''


def fit_verdict(space: str, count: int, min_needed: int, scale: float, shift: float, num_inliers: int,
                uncertainty: float, max_scale_uncertainty: float) -> str:
    """Why a finished fit is not usable ('' when it is), in this order."""
    if not (np.isfinite(scale) and np.isfinite(shift)):
        return 'fit is not finite'
    if scale <= 0:
        return (f'non-positive scale {scale:.4g}: the prediction does not increase with '
                f'the {space} of the targets')
    if num_inliers < min_needed:
        return f'too few inliers: {num_inliers} of {count}'
    if not uncertainty <= max_scale_uncertainty:
        return (f'scale poorly constrained (+-{uncertainty:.0%}): the points span too little '
                f'depth for their noise')
    return ''


def fit_scale_shift(pred, target, space='depth', *, min_points=20, seed=DEFAULT_SEED,
                    max_scale_uncertainty=MAX_SCALE_UNCERTAINTY):
    """Robust s, t with s * pred + t ~ target, both in `space`; pairs holding NaN are ignored.

    Returns an AlignmentResult; ok=False with a reason for too few points, no spread in the targets
    or in the prediction, a non-positive scale, a non-finite fit, or a scale whose standard error
    exceeds max_scale_uncertainty of its value (all points at about one depth, with noise).
    rmse_m is over inliers, in metres.
    """
    _check_space(space)
    pred = _float_array(pred, 'pred').ravel()
    target = _float_array(target, 'target').ravel()
    if pred.shape != target.shape:
        raise ValueError(f'target: {target.size} values but pred has {pred.size}')
    usable = np.isfinite(pred) & np.isfinite(target)
    if not usable.all():
        pred, target = pred[usable], target[usable]
    result = AlignmentResult(space=space, num_points=int(len(pred)))
    min_needed = max(int(min_points), 2)
    enough = len(pred) >= min_needed
    target_spread, target_median = _spread(target) if enough else (0.0, 0.0)
    result.reason = sample_verdict(space, len(pred), min_needed, enough and _has_spread(target_spread, target_median),
                                   enough and _has_spread(*_spread(pred)))
    if result.reason:
        return result
    scale, shift, inliers = _robust_scale_shift(pred, target, np.random.default_rng(seed), target_spread)
    result.scale, result.shift = scale, shift
    result.num_inliers = int(inliers.sum())
    usable = np.isfinite(scale) and np.isfinite(shift) and scale > 0 and result.num_inliers >= min_needed
    uncertainty = (_relative_scale_uncertainty(pred[inliers], target[inliers], scale, shift)
                   if usable else float('inf'))
    result.reason = fit_verdict(space, len(pred), min_needed, scale, shift, result.num_inliers, uncertainty,
                                max_scale_uncertainty)
    if result.reason:
        return result
    fitted_m = from_space(scale * pred[inliers] + shift, space)
    target_m = from_space(target[inliers], space)
    errors = fitted_m - target_m
    result.rmse_m = float(np.sqrt(np.nanmean(errors * errors))) if np.any(np.isfinite(errors)) else float('nan')
    result.ok = True
    return result


def _image(values, field):
    return float_array(values, field, IMAGE)


def open_interval_bounds(dtype, low, high):
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


def _from_space_in_place(values, space):
    if space == 'disparity':
        np.reciprocal(values, out=values)
    elif space == 'sqrt_disparity':
        np.multiply(values, values, out=values)
        np.reciprocal(values, out=values)
    return values


def apply_alignment(relative, space, scale, shift, min_depth=0.1, max_depth=100.0):
    """The one place that maps fitted values to metres: float32, NaN outside [min_depth, max_depth].

    Computed in float32 (the output's precision): a pixel is valid where s * p + t > 0 and its depth
    is finite, positive and within the limits.
    """
    _check_space(space)
    relative = _image(relative, 'relative')
    if not (np.isfinite(scale) and np.isfinite(shift)):
        return np.full(relative.shape, np.nan, np.float32)
    with np.errstate(all='ignore'):
        scale32, shift32 = np.float32(scale), np.float32(shift)
        min32, max32 = np.float32(min_depth), np.float32(max_depth)
        depth = np.multiply(relative, scale32, dtype=np.float32)
        depth += shift32
        invalid = depth <= 0                      # NaN values stay NaN through every step below
        _from_space_in_place(depth, space)
        invalid |= depth < min32
        invalid |= depth > max32
        if not min32 > 0:
            invalid |= depth <= 0
        if not np.isfinite(max32):
            invalid |= np.isinf(depth)
    np.copyto(depth, np.float32(np.nan), where=invalid)
    return depth


def sample_indices(relative, sparse, min_depth, max_depth, max_points, seed):
    """Flat indices of the fit's samples: sparse strictly inside the limits and relative finite.

    Found on the sparse image first (few pixels hold a sample); more than max_points are thinned to
    a seeded subset, in image order.
    """
    low, high = open_interval_bounds(sparse.dtype, min_depth, max_depth)
    flat_sparse = sparse.ravel()
    index = np.flatnonzero(flat_sparse > low)
    index = index[flat_sparse[index] < high]
    return thin_samples(index[np.isfinite(relative.ravel()[index])], max_points, seed)


def thin_samples(index, max_points, seed):
    """The sample indices, or a seeded subset of max_points of them in their original order."""
    if len(index) > max_points:
        index = np.sort(np.random.default_rng(seed).choice(index, int(max_points), replace=False))
    return index


def align_to_sparse_depth(relative, space, sparse_depth, *, min_depth=0.1, max_depth=100.0,
                          min_points=20, max_points=5000, seed=DEFAULT_SEED):
    """Fit relative to sparse metres (same HxW, NaN where empty); returns (metric, AlignmentResult)."""
    _check_space(space)
    relative = _image(relative, 'relative')
    sparse = _image(sparse_depth, 'sparse_depth')
    if sparse.shape != relative.shape:
        raise ValueError(f'sparse_depth: shape {sparse.shape} differs from relative shape {relative.shape}')
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    index = sample_indices(relative, sparse, min_depth, max_depth, max_points, seed)
    pred = relative.ravel()[index].astype(np.float64)
    target = to_space(sparse.ravel()[index], space)
    result = fit_scale_shift(pred, target, space, min_points=min_points, seed=seed)
    if not result.ok:
        return np.full(relative.shape, np.nan, np.float32), result
    return apply_alignment(relative, space, result.scale, result.shift, min_depth, max_depth), result
