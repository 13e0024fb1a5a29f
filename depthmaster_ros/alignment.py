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
"""
from dataclasses import asdict, dataclass

import numpy as np

SPACES = ('depth', 'disparity', 'sqrt_disparity')

# Tighter than the Gaussian-efficiency choice 4.685: outliers here (LiDAR see-through, obstacles
# over the floor plane) are one-sided, so moderate ones that a wide window keeps bias the fit.
TUKEY_C = 3.0
MAD_TO_SIGMA = 1.4826
DEFAULT_SEED = 0


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


def _weighted_scale_shift(pred, target, weights):
    w_sum = weights.sum()
    mean_p = (weights * pred).sum() / w_sum
    mean_t = (weights * target).sum() / w_sum
    dp = pred - mean_p
    var_p = (weights * dp * dp).sum()
    if var_p <= 0:
        return np.nan, np.nan
    scale = (weights * dp * (target - mean_t)).sum() / var_p
    return scale, mean_t - scale * mean_p


def _least_median_start(pred, target, rng, num_hypotheses=200):
    """Best line through random point pairs by median absolute residual."""
    first = rng.integers(0, len(pred), num_hypotheses)
    second = rng.integers(0, len(pred), num_hypotheses)
    dp = pred[second] - pred[first]
    usable = np.abs(dp) > 1e-12 * max(1.0, float(np.abs(pred).max()))
    if not np.any(usable):
        return np.nan, np.nan
    scales = (target[second] - target[first])[usable] / dp[usable]
    shifts = target[first][usable] - scales * pred[first][usable]
    residuals = np.abs(scales[:, None] * pred[None, :] + shifts[:, None] - target[None, :])
    best = int(np.argmin(np.median(residuals, axis=1)))
    return scales[best], shifts[best]


def _robust_scale_shift(pred, target, rng, max_iterations=30):
    """(scale, shift, inlier mask): LMedS start, then Tukey IRLS."""
    scale, shift = _least_median_start(pred, target, rng)
    if not np.isfinite(scale):
        return np.nan, np.nan, np.zeros(len(pred), bool)
    spread = np.percentile(target, 95) - np.percentile(target, 5)
    sigma_floor = 1e-6 * max(spread, 1e-12)
    inliers = np.ones(len(pred), bool)
    for _ in range(max_iterations):
        residual = scale * pred + shift - target
        sigma = max(MAD_TO_SIGMA * np.median(np.abs(residual - np.median(residual))), sigma_floor)
        u = residual / (TUKEY_C * sigma)
        inliers = np.abs(u) < 1.0
        weights = np.where(inliers, (1.0 - u * u) ** 2, 0.0)
        if weights.sum() <= 0:
            break
        new_scale, new_shift = _weighted_scale_shift(pred, target, weights)
        if not np.isfinite(new_scale):
            break
        converged = abs(new_scale - scale) <= 1e-9 * abs(scale) + 1e-15 and \
            abs(new_shift - shift) <= 1e-9 * (abs(shift) + abs(scale)) + 1e-15
        scale, shift = new_scale, new_shift
        if converged:
            break
    residual = scale * pred + shift - target
    sigma = max(MAD_TO_SIGMA * np.median(np.abs(residual - np.median(residual))), sigma_floor)
    return float(scale), float(shift), np.abs(residual) < TUKEY_C * sigma


def _has_spread(values, relative=1e-3):
    low, high = np.percentile(values, [5, 95])
    return (high - low) > relative * max(abs(float(np.median(values))), 1e-12)


def _relative_scale_uncertainty(pred, target, scale, shift):
    """Standard error of the fitted scale over its value (large when the points barely spread)."""
    residual = scale * pred + shift - target
    dof = max(len(pred) - 2, 1)
    sigma = np.sqrt((residual * residual).sum() / dof)
    spread = np.sqrt(((pred - pred.mean()) ** 2).sum())
    return float(sigma / spread / abs(scale)) if spread > 0 else float('inf')


def fit_scale_shift(pred, target, space='depth', *, min_points=20, seed=DEFAULT_SEED,
                    max_scale_uncertainty=0.1):
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
    pred, target = pred[usable], target[usable]
    result = AlignmentResult(space=space, num_points=int(len(pred)))
    if len(pred) < max(int(min_points), 2):
        result.reason = f'too few points: {len(pred)} < {max(int(min_points), 2)}'
        return result
    if not _has_spread(target):
        result.reason = f'no depth spread: all {len(target)} targets at one {space} value'
        return result
    if not _has_spread(pred):
        result.reason = f'no spread in the prediction at the {len(pred)} points'
        return result
    scale, shift, inliers = _robust_scale_shift(pred, target, np.random.default_rng(seed))
    result.scale, result.shift = scale, shift
    result.num_inliers = int(inliers.sum())
    if not (np.isfinite(scale) and np.isfinite(shift)):
        result.reason = 'fit is not finite'
        return result
    if scale <= 0:
        result.reason = (f'non-positive scale {scale:.4g}: the prediction does not increase with '
                         f'the {space} of the targets')
        return result
    if result.num_inliers < max(int(min_points), 2):
        result.reason = f'too few inliers: {result.num_inliers} of {len(pred)}'
        return result
    uncertainty = _relative_scale_uncertainty(pred[inliers], target[inliers], scale, shift)
    if not uncertainty <= max_scale_uncertainty:
        result.reason = (f'scale poorly constrained (+-{uncertainty:.0%}): the points span too little '
                         f'depth for their noise')
        return result
    fitted_m = from_space(scale * pred[inliers] + shift, space)
    target_m = from_space(target[inliers], space)
    errors = fitted_m - target_m
    result.rmse_m = float(np.sqrt(np.nanmean(errors * errors))) if np.any(np.isfinite(errors)) else float('nan')
    result.ok = True
    return result


def _image(values, field):
    array = _float_array(values, field)
    if array.ndim != 2:
        raise ValueError(f'{field}: expected a 2-D image, got shape {array.shape}')
    return array


def apply_alignment(relative, space, scale, shift, min_depth=0.1, max_depth=100.0):
    """The one place that maps fitted values to metres: float32, NaN outside [min_depth, max_depth]."""
    _check_space(space)
    relative = _image(relative, 'relative')
    if not (np.isfinite(scale) and np.isfinite(shift)):
        return np.full(relative.shape, np.nan, np.float32)
    depth = from_space(scale * relative + shift, space)
    with np.errstate(invalid='ignore'):
        depth[~((depth >= min_depth) & (depth <= max_depth))] = np.nan
    return depth.astype(np.float32)


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
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(sparse) & (sparse > min_depth) & (sparse < max_depth) & np.isfinite(relative)
    index = np.flatnonzero(valid)
    if len(index) > max_points:
        index = np.sort(np.random.default_rng(seed).choice(index, int(max_points), replace=False))
    pred = relative.ravel()[index]
    target = to_space(sparse.ravel()[index], space)
    result = fit_scale_shift(pred, target, space, min_points=min_points, seed=seed)
    if not result.ok:
        return np.full(relative.shape, np.nan, np.float32), result
    return apply_alignment(relative, space, result.scale, result.shift, min_depth, max_depth), result
