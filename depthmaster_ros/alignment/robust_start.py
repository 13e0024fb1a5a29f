"""Which samples to trust: least median of squares over random point pairs, then Tukey IRLS.

Least median of squares gives an outlier-free start (it breaks down only beyond 50 % outliers), then
iteratively reweighted least squares with Tukey's biweight, its scale from the median absolute
deviation, refines it using every inlier. The result is the inlier set; the scale and shift that
are published come from the errors-in-variables fit on those inliers (uncertainty.py), and whether
the start broke down is judged in verdicts.py.

Cost: float64 on the samples only; the candidate lines are scored on a fixed seeded subset of at
most LMEDS_SCORING_POINTS samples, which locates the outlier-free line as well as all of them would,
and only the candidates that can have the lowest median are partitioned to rank them.
"""
import numpy as np

# Tighter than the Gaussian-efficiency choice 4.685: outliers here (LiDAR see-through, obstacles
# over the floor plane) are one-sided, so moderate ones that a wide window keeps bias the fit.
TUKEY_C = 3.0
MAD_TO_SIGMA = 1.4826
LMEDS_HYPOTHESES = 100          # random point pairs, each a candidate line
LMEDS_SCORING_POINTS = 500      # samples that score the candidates (seeded subset when there are more)
PROBE_ROWS = 8                  # candidates whose medians bound the best one before the others are ranked
IRLS_MAX_ITERATIONS = 30
# Relative step of scale and shift that ends the refinement: IRLS converges linearly, so stopping
# here leaves the scale about ten times closer to its limit than the fit's own standard error.
IRLS_TOLERANCE = 1e-4


class WeightedLine:
    """Weighted least-squares lines through fixed samples, one matrix-vector product per weighting.

    The samples are centred once on their plain means, so the moment sums below lose no precision
    to cancellation (the weighted means stay close to the plain ones).
    """

    def __init__(self, pred: np.ndarray, target: np.ndarray):
        self.pred_mean, self.target_mean = float(pred.mean()), float(target.mean())
        self.moments = np.empty((5, len(pred)))      # rows: 1, p, t, p p, p t (filled in place)
        self.moments[0] = 1.0
        p = np.subtract(pred, self.pred_mean, out=self.moments[1])
        t = np.subtract(target, self.target_mean, out=self.moments[2])
        np.multiply(p, p, out=self.moments[3])
        np.multiply(p, t, out=self.moments[4])

    def fit(self, weights: np.ndarray) -> tuple[float, float]:
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


def median_last_axis(values: np.ndarray) -> np.ndarray:
    """np.median along the last axis of NaN-free values, through one single-kth partition.

    (np.median partitions at two positions for even counts, several times slower.) The lower
    middle value is the largest one left of the upper middle after the partition.
    """
    return _median_in_place(values.copy())


def _median_in_place(values: np.ndarray) -> np.ndarray:
    """median_last_axis of values that may be reordered (a temporary): no copy."""
    count = values.shape[-1]
    middle = count // 2
    values.partition(middle, axis=-1)
    upper = values[..., middle]
    if count % 2:
        return upper
    result: np.ndarray = (values[..., :middle].max(axis=-1) + upper) / 2
    return result


def lowest_median_row(values: np.ndarray) -> int:
    """np.argmin(median_last_axis(values)) (the first row on ties) of a NaN-free matrix, partitioning few rows.

    A row with fewer than half its values at or below some row's median has a larger median than
    that row: only the rows with enough values at or below the lowest median of the first
    PROBE_ROWS can hold the lowest one, and only those are partitioned (the same order statistics,
    so the same medians).
    """
    bound = median_last_axis(values[:PROBE_ROWS]).min()
    at_or_below = (values <= bound).sum(axis=-1, dtype=np.uint16 if values.shape[-1] < 2**16 else np.int64)
    candidates = np.flatnonzero(at_or_below >= (values.shape[-1] + 1) // 2)
    return int(candidates[np.argmin(_median_in_place(values[candidates]))])


def lmeds_draws(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(first, second, scoring): the point pairs of the candidate lines and the indices that score them.

    Drawn in this order from rng, so the torch mirror reproduces them; scoring is None when every
    point scores (count <= LMEDS_SCORING_POINTS).
    """
    first = rng.integers(0, count, LMEDS_HYPOTHESES)
    second = rng.integers(0, count, LMEDS_HYPOTHESES)
    scoring = rng.choice(count, LMEDS_SCORING_POINTS, replace=False) if count > LMEDS_SCORING_POINTS else None
    return first, second, scoring


def least_median_start(pred: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
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
    best = lowest_median_row(residuals)
    return float(scales[best]), float(shifts[best])


def robust_sigma(residual: np.ndarray, sigma_floor: float) -> float:
    """MAD scale of the residuals (never below sigma_floor, so exact data do not divide by zero)."""
    deviation = residual - median_last_axis(residual)
    np.abs(deviation, out=deviation)
    return max(MAD_TO_SIGMA * float(_median_in_place(deviation)), sigma_floor)


def robust_line(pred: np.ndarray, target: np.ndarray, rng: np.random.Generator, target_spread: float,
                start: tuple[float, float] | None = None) -> tuple[float, float, np.ndarray]:
    """(scale, shift, inlier mask): LMedS start, then Tukey IRLS (target_spread: its 5-95 % range).

    start: an outlier-free line through the samples known beforehand (a consensus the samples were chosen
    by); the refinement starts there and no LMedS draw is made.
    """
    scale, shift = least_median_start(pred, target, rng) if start is None else start
    if not np.isfinite(scale):
        return np.nan, np.nan, np.zeros(len(pred), bool)
    sigma_floor = 1e-6 * max(target_spread, 1e-12)
    line = WeightedLine(pred, target)
    residual, weights = np.empty_like(pred), np.empty_like(pred)
    for _ in range(IRLS_MAX_ITERATIONS):
        np.multiply(pred, scale, out=residual)
        residual += shift
        residual -= target
        # Tukey's biweight (1 - u^2)^2 inside |u| < 1, zero outside; u = residual / (c sigma)
        np.square(residual, out=weights)
        weights *= -1.0 / (TUKEY_C * robust_sigma(residual, sigma_floor)) ** 2
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
    return float(scale), float(shift), np.abs(residual) < TUKEY_C * robust_sigma(residual, sigma_floor)
