"""When a fit may be published: the one set of rules for every implementation of the fit.

A fit is refused, with the reason, when the samples cannot support it (too few, no spread) or when
the finished fit shows that it cannot be trusted:
- the scale is not finite or not positive (the prediction does not grow with the targets' space);
- too few inliers, or an inlier share below MIN_INLIER_SHARE (most samples disagree with the line);
- the robust start broke down: the residuals of all samples have a tight core and a broad body, so
  the median-based noise scale is far wider than the quarter-based one (BREAKDOWN_RATIO); this is
  what majority contamination looks like after the MAD threshold has grown to admit everything;
- the depth support is too narrow for the prediction's noise: the inliers' correlation between
  prediction and target (r squared) is below MIN_SUPPORT_R2, so the slope is mostly noise;
- the published scale uncertainty (block jackknife, uncertainty.py) exceeds max_scale_uncertainty:
  the residuals are structured across the image or the points span too little depth;
- (extrinsic_verdict) the samples agree clearly better with the prediction a few pixels away, and
  the fit there has a scale outside the published uncertainty: a wrong LiDAR-camera extrinsic or
  stamp offset (extrinsic_check.py). A smaller effect is only reported (record, /diagnostics WARN).
"""
import numpy as np

from .robust_start import median_last_axis

MAX_SCALE_UNCERTAINTY = 0.1
MIN_INLIER_SHARE = 0.5
# Gaussian residuals give 1.0; 40 % scattered outliers about 1.2; a broken start (the median among
# the outliers) 2 and more.
BREAKDOWN_RATIO = 1.6
MIN_SUPPORT_R2 = 0.8
_MEDIAN_TO_SIGMA = 1.0 / 0.6745       # |N(0, 1)|: median 0.6745, lower quartile 0.3186
_QUARTER_TO_SIGMA = 1.0 / 0.3186


def partition_quantiles(values: np.ndarray, positions: tuple[float, ...]) -> list[float]:
    """np.quantile at fractional sorted positions (linear interpolation), from one partition."""
    lows = [int(np.floor(p)) for p in positions]
    kth = sorted({k for low in lows for k in (low, min(low + 1, len(values) - 1))})
    parted = np.partition(values, kth)
    return [float(parted[low] + (parted[min(low + 1, len(values) - 1)] - parted[low]) * (p - low))
            for low, p in zip(lows, positions)]


def breakdown_ratio(residual: np.ndarray, floor: float = 0.0) -> float:
    """Noise scale from the median |residual| over the one from the lower quartile (1 for Gaussian noise).

    Both scales are held at least at `floor` (exact data have no noise to compare). The residuals are
    NaN-free (the fit's, of finite samples).
    """
    residual = np.asarray(residual)
    if len(residual) < 8:
        return 1.0
    spread = residual - median_last_axis(residual)
    np.abs(spread, out=spread)
    last = len(spread) - 1
    quarter, half = partition_quantiles(spread, (0.25 * last, 0.5 * last))
    quarter, half = max(quarter * _QUARTER_TO_SIGMA, floor), max(half * _MEDIAN_TO_SIGMA, floor)
    if not quarter > 0:
        return 1.0
    return float(half / quarter)


def sample_verdict(space: str, count: int, min_needed: int, target_has_spread: bool,
                   pred_has_spread: bool) -> str:
    """Why the samples cannot be fitted ('' when they can); checked before any fit, in this order."""
    if count < min_needed:
        return f'too few points: {count} < {min_needed}'
    if not target_has_spread:
        return f'no depth spread: all {count} targets at one {space} value'
    if not pred_has_spread:
        return f'no spread in the prediction at the {count} points'
    return ''


def fit_verdict(space: str, count: int, min_needed: int, scale: float, shift: float, num_inliers: int,
                uncertainty: float, max_scale_uncertainty: float, *, breakdown: float = 1.0,
                support_r2: float = 1.0) -> str:
    """Why a finished fit is not usable ('' when it is), in this order."""
    if not (np.isfinite(scale) and np.isfinite(shift)):
        return 'fit is not finite'
    if scale <= 0:
        return (f'non-positive scale {scale:.4g}: the prediction does not increase with '
                f'the {space} of the targets')
    if num_inliers < min_needed:
        return f'too few inliers: {num_inliers} of {count}'
    if num_inliers < MIN_INLIER_SHARE * count:
        return (f'low inlier share: {num_inliers} of {count} samples agree with the fit '
                f'(below {MIN_INLIER_SHARE:.0%}); the samples may be mostly wrong')
    if not breakdown <= BREAKDOWN_RATIO:
        return (f'robust start broke down: the residuals have a tight core and a broad body '
                f'(noise ratio {breakdown:.2f} > {BREAKDOWN_RATIO}); too many samples are wrong')
    if not support_r2 >= MIN_SUPPORT_R2:
        return (f'depth support too narrow for the prediction\'s noise: r^2 {support_r2:.2f} < '
                f'{MIN_SUPPORT_R2} between prediction and targets')
    if not uncertainty <= max_scale_uncertainty:
        return (f'scale poorly constrained (+-{uncertainty:.0%}): the residuals vary across the image or '
                f'the points span too little depth for their noise')
    return ''


# The refusals that say the evidence is weak, not wrong: the line may be right but is not pinned down.
WEAK_EVIDENCE_REASONS = ('scale poorly constrained', 'depth support too narrow')


def weak_evidence(reason: str) -> bool:
    """Whether a refusal (a fit_verdict reason) only says the samples constrain the line too little, so that
    other evidence may narrow it (evidence_pool.py); every other refusal says the line is wrong."""
    return reason.startswith(WEAK_EVIDENCE_REASONS)


def extrinsic_verdict(rows_px: int, cols_px: int, scale_change: float, uncertainty: float) -> str:
    """Why a fit whose samples fit best at an offset is not usable ('' when the offset does not matter)."""
    if not scale_change <= uncertainty:
        return (f'LiDAR-camera extrinsic or time offset looks wrong: the samples agree best with the prediction '
                f'{rows_px} rows and {cols_px} columns away, where the scale differs by {scale_change:.0%} '
                f'(more than the +-{uncertainty:.0%} uncertainty); check the transform and the stamps')
    return ''
