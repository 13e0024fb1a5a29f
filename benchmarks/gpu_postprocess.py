"""Per-pixel post-processing in torch, so a prediction made on the GPU stays there until publication.

Operation for operation this mirrors the numpy reference (alignment.py, backprojection.py): the same
space transforms, the same robust fit (least-median-of-squares start over random point pairs scored
on a subset, both drawn with the same numpy generator and seed, then Tukey IRLS with a MAD scale and
the same stopping rule, the same degeneracy rules and reasons) and the same back-projection rays. It
is batched over frames (B, H, W) for multi-camera batches and runs unchanged on CPU and CUDA tensors.
The fit runs in float64 like the reference (a few thousand samples: cheap anywhere); per-pixel work
runs in float32.

Host round trips are the small, unavoidable ones: the indices of the valid samples (a few thousand
ints, for the seeded subsampling and pair draws that make the result identical to the reference) and
the per-frame fit numbers that go into the alignment record.
"""
import numpy as np
import torch

from depthmaster_ros.alignment.fit import (DEFAULT_SEED, IRLS_MAX_ITERATIONS, IRLS_TOLERANCE, LMEDS_HYPOTHESES,
                                       LMEDS_SCORING_POINTS, MAD_TO_SIGMA, MAX_SCALE_UNCERTAINTY, SPACES,
                                       SPREAD_RELATIVE, TUKEY_C, AlignmentResult, fit_verdict, lmeds_draws,
                                       open_interval_bounds, sample_verdict, thin_samples)
# The per-pixel functions the pipeline runs on the device live in the package; re-exported here.
from depthmaster_ros.pipeline.device_postprocess import depth_to_points, to_device, to_host  # noqa: E402,F401


def _check_space(space):
    if space not in SPACES:
        raise ValueError(f'space: expected one of {SPACES}, got {space!r}')


def _tensor(values, field):
    if isinstance(values, torch.Tensor):
        return values
    try:
        return torch.as_tensor(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise ValueError(f'{field}: not numeric ({error})') from None


def to_space(depth_m, space):
    """Metres -> space values; NaN where the depth is not positive and finite."""
    _check_space(space)
    depth = _tensor(depth_m, 'depth_m')
    valid = torch.isfinite(depth) & (depth > 0)
    safe = torch.where(valid, depth, torch.ones_like(depth))
    if space == 'depth':
        values = safe
    elif space == 'disparity':
        values = 1.0 / safe
    else:
        values = torch.sqrt(1.0 / safe)
    return torch.where(valid, values, torch.full_like(values, float('nan')))


def from_space(values, space):
    """Space values -> metres; NaN where the inverse is not positive and finite."""
    _check_space(space)
    values = _tensor(values, 'values')
    valid = torch.isfinite(values) & (values > 0)
    safe = torch.where(valid, values, torch.ones_like(values))
    if space == 'depth':
        depth = safe
    elif space == 'disparity':
        depth = 1.0 / safe
    else:
        depth = 1.0 / (safe * safe)
    valid &= torch.isfinite(depth) & (depth > 0)
    return torch.where(valid, depth, torch.full_like(depth, float('nan')))


def _batched_images(values, field):
    """(B,H,W) view of a (H,W) or (B,H,W) tensor and whether it was a single image."""
    tensor = _tensor(values, field)
    if tensor.dim() == 2:
        return tensor.unsqueeze(0), True
    if tensor.dim() == 3:
        return tensor, False
    raise ValueError(f'{field}: expected a (H,W) image or a (B,H,W) batch, got shape {tuple(tensor.shape)}')


def _per_frame(values, batch, reference, field):
    """Scale or shift as a (B,1,1) float64 tensor on the reference's device."""
    tensor = torch.as_tensor(values, dtype=torch.float64).to(reference.device).reshape(-1)
    if tensor.numel() == 1:
        tensor = tensor.expand(batch)
    if tensor.numel() != batch:
        raise ValueError(f'{field}: expected one value or {batch}, got {tensor.numel()}')
    return tensor.reshape(batch, 1, 1)


def apply_alignment(relative, space, scale, shift, min_depth=0.1, max_depth=100.0):
    """Fitted values -> metres, float32, NaN outside [min_depth, max_depth] or where the fit is not finite.

    relative is (H,W) or (B,H,W); scale and shift are numbers or one per frame.
    """
    _check_space(space)
    batch, single = _batched_images(relative, 'relative')
    scale = _per_frame(scale, batch.shape[0], batch, 'scale')
    shift = _per_frame(shift, batch.shape[0], batch, 'shift')
    fit_finite = torch.isfinite(scale) & torch.isfinite(shift)
    values = scale.to(torch.float32) * batch.to(torch.float32) + shift.to(torch.float32)
    depth = from_space(values, space)
    keep = (depth >= min_depth) & (depth <= max_depth) & fit_finite
    depth = torch.where(keep, depth, torch.full_like(depth, float('nan'))).to(torch.float32)
    return depth[0] if single else depth


def _sorted_valid(values, valid):
    """Rows sorted ascending with invalid entries pushed to the end as +inf; and the valid counts."""
    filled = torch.where(valid, values, torch.full_like(values, float('inf')))
    return torch.sort(filled, dim=-1).values, valid.sum(dim=-1)


def masked_quantile(values, valid, q):
    """numpy.percentile(row[valid], 100*q) (linear interpolation) for every row; NaN for empty rows."""
    ordered, counts = _sorted_valid(values, valid)
    position = q * (counts - 1).clamp(min=0).to(values.dtype)
    low = position.floor().long()
    high = position.ceil().long()
    fraction = position - low.to(values.dtype)
    a = ordered.gather(-1, low.unsqueeze(-1)).squeeze(-1)
    b = ordered.gather(-1, high.unsqueeze(-1)).squeeze(-1)
    result = a + (b - a) * fraction
    result = torch.where(b == a, a, result)
    return torch.where(counts > 0, result, torch.full_like(result, float('nan')))


def masked_median(values, valid):
    """numpy.median(row[valid]) for every row (the mean of the two middle values for even counts)."""
    ordered, counts = _sorted_valid(values, valid)
    low = ((counts - 1).clamp(min=0) // 2).unsqueeze(-1)
    high = (counts // 2).clamp(max=values.shape[-1] - 1).unsqueeze(-1)
    a = ordered.gather(-1, low).squeeze(-1)
    b = ordered.gather(-1, high).squeeze(-1)
    median = torch.where(counts % 2 == 1, a, (a + b) / 2)
    return torch.where(counts > 0, median, torch.full_like(median, float('nan')))


def _has_spread(values, valid):
    low = masked_quantile(values, valid, 0.05)
    high = masked_quantile(values, valid, 0.95)
    median = masked_quantile(values, valid, 0.5)      # as alignment._spread
    return (high - low) > SPREAD_RELATIVE * torch.clamp(median.abs(), min=1e-12)


def _lmeds_draws(counts, fit_rows, seed):
    """Per row, the reference's draws (alignment.lmeds_draws with default_rng(seed)).

    Returns first, second (B, LMEDS_HYPOTHESES) and scoring, scoring_valid (B, S): the indices that
    score the candidates, every point when a row has no more than LMEDS_SCORING_POINTS.
    """
    width = max(1, min(int(max(counts, default=0)), LMEDS_SCORING_POINTS))
    first = np.zeros((len(counts), LMEDS_HYPOTHESES), np.int64)
    second = np.zeros_like(first)
    scoring = np.zeros((len(counts), width), np.int64)
    scoring_valid = np.zeros((len(counts), width), bool)
    for row, (count, fit) in enumerate(zip(counts, fit_rows)):
        if fit:
            first[row], second[row], subset = lmeds_draws(int(count), np.random.default_rng(seed))
            subset = np.arange(count) if subset is None else subset
            scoring[row, :len(subset)] = subset
            scoring_valid[row, :len(subset)] = True
    return first, second, scoring, scoring_valid


def _least_median_start(pred, target, valid, first, second, scoring, scoring_valid):
    """Per row, the best drawn line by median absolute residual over the scoring subset (NaN if none usable)."""
    p1, p2 = pred.gather(1, first), pred.gather(1, second)
    t1, t2 = target.gather(1, first), target.gather(1, second)
    dp = p2 - p1
    magnitude = torch.where(valid, pred.abs(), torch.zeros_like(pred)).amax(dim=1, keepdim=True)
    usable = dp.abs() > 1e-12 * torch.clamp(magnitude, min=1.0)
    safe_dp = torch.where(usable, dp, torch.ones_like(dp))
    scales = (t2 - t1) / safe_dp
    shifts = t1 - scales * p1
    usable &= torch.isfinite(scales) & torch.isfinite(shifts)
    score_pred, score_target = pred.gather(1, scoring), target.gather(1, scoring)
    residuals = (scales.unsqueeze(-1) * score_pred.unsqueeze(1) + shifts.unsqueeze(-1)
                 - score_target.unsqueeze(1)).abs()
    rows, hypotheses, width = residuals.shape
    scoring_valid = scoring_valid.unsqueeze(1).expand(rows, hypotheses, width).reshape(rows * hypotheses, width)
    medians = masked_median(residuals.reshape(rows * hypotheses, width), scoring_valid)
    medians = torch.where(usable, medians.reshape(rows, hypotheses), torch.full_like(scales, float('inf')))
    best = medians.argmin(dim=1, keepdim=True)
    any_usable = usable.any(dim=1)
    nan = torch.full_like(any_usable, float('nan'), dtype=pred.dtype)
    scale = torch.where(any_usable, scales.gather(1, best).squeeze(1), nan)
    shift = torch.where(any_usable, shifts.gather(1, best).squeeze(1), nan)
    return scale, shift


def _robust_sigma(residual, valid, sigma_floor):
    median = masked_median(residual, valid)
    mad = masked_median((residual - median.unsqueeze(1)).abs(), valid)
    return torch.maximum(MAD_TO_SIGMA * mad, sigma_floor)


class _WeightedLines:
    """Per row, weighted least-squares lines from moment sums of the samples centred on their means
    (as alignment._WeightedLine)."""

    def __init__(self, pred, target, valid):
        weight = valid.to(pred.dtype)
        count = weight.sum(dim=1, keepdim=True).clamp(min=1)
        self.pred_mean = (pred * weight).sum(dim=1) / count.squeeze(1)
        self.target_mean = (target * weight).sum(dim=1) / count.squeeze(1)
        p = (pred - self.pred_mean.unsqueeze(1)) * weight
        t = (target - self.target_mean.unsqueeze(1)) * weight
        self.moments = torch.stack([weight, p, t, p * p, p * t], dim=1)      # (B, 5, N)

    def fit(self, weights):
        """(scale, shift) per row; NaN where the weights sum to zero or leave no spread in pred."""
        w_sum, sum_p, sum_t, sum_pp, sum_pt = (self.moments @ weights.unsqueeze(-1)).squeeze(-1).unbind(1)
        var_p = sum_pp - sum_p * sum_p / w_sum
        scale = (sum_pt - sum_p * sum_t / w_sum) / var_p
        shift = self.target_mean + (sum_t - scale * sum_p) / w_sum - scale * self.pred_mean
        fitted = (w_sum > 0) & (var_p > 0)
        nan = torch.full_like(scale, float('nan'))
        return torch.where(fitted, scale, nan), torch.where(fitted, shift, nan)


def _tukey_irls(pred, target, valid, scale, shift, sigma_floor):
    """Tukey-biweight IRLS from the LMedS start; rows stop independently exactly where the reference breaks."""
    active = torch.isfinite(scale)
    lines = _WeightedLines(pred, target, valid)
    for _ in range(IRLS_MAX_ITERATIONS):
        if not bool(active.any()):
            break
        residual = pred * scale.unsqueeze(1) + shift.unsqueeze(1) - target
        sigma = _robust_sigma(residual, valid, sigma_floor)
        inverse = -1.0 / (TUKEY_C * sigma) ** 2
        weights = torch.clamp(residual * residual * inverse.unsqueeze(1) + 1.0, min=0.0)
        weights = torch.where(valid, weights * weights, torch.zeros_like(weights))
        new_scale, new_shift = lines.fit(weights)
        update = active & torch.isfinite(new_scale)
        converged = ((new_scale - scale).abs() <= IRLS_TOLERANCE * scale.abs() + 1e-15) & \
            ((new_shift - shift).abs() <= IRLS_TOLERANCE * (shift.abs() + scale.abs()) + 1e-15)
        scale = torch.where(update, new_scale, scale)
        shift = torch.where(update, new_shift, shift)
        active = update & ~converged
    residual = scale.unsqueeze(1) * pred + shift.unsqueeze(1) - target
    sigma = _robust_sigma(residual, valid, sigma_floor)
    inliers = (residual.abs() < TUKEY_C * sigma.unsqueeze(1)) & valid & torch.isfinite(scale).unsqueeze(1)
    return scale, shift, inliers


def _compact(pred, target, valid):
    """Valid entries of each row first, in their original order (the order the reference sees them)."""
    order = torch.sort((~valid).to(torch.int8), dim=1, stable=True).indices
    return pred.gather(1, order), target.gather(1, order), valid.gather(1, order)


def fit_scale_shift(pred, target, space='depth', *, valid=None, min_points=20, seed=DEFAULT_SEED,
                    max_scale_uncertainty=MAX_SCALE_UNCERTAINTY):
    """Batched alignment.fit_scale_shift: rows of (B,N) samples in `space` -> one AlignmentResult per row.

    Pairs where `valid` is False or either value is not finite are ignored. A 1-D input is one row.
    """
    _check_space(space)
    pred = _tensor(pred, 'pred').to(torch.float64)
    target = _tensor(target, 'target').to(torch.float64).to(pred.device)
    if pred.shape != target.shape:
        raise ValueError(f'target: shape {tuple(target.shape)} differs from pred shape {tuple(pred.shape)}')
    if pred.dim() == 1:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
        valid = None if valid is None else _tensor(valid, 'valid').reshape(1, -1)
    if pred.dim() != 2:
        raise ValueError(f'pred: expected (N,) or (B,N) samples, got shape {tuple(pred.shape)}')
    usable = torch.isfinite(pred) & torch.isfinite(target)
    if valid is not None:
        valid = _tensor(valid, 'valid').to(device=pred.device, dtype=torch.bool)
        if valid.shape != pred.shape:
            raise ValueError(f'valid: shape {tuple(valid.shape)} differs from pred shape {tuple(pred.shape)}')
        usable &= valid
    pred, target, usable = _compact(pred, target, usable)
    pred = torch.where(usable, pred, torch.zeros_like(pred))
    target = torch.where(usable, target, torch.zeros_like(target))
    return _fit_rows(pred, target, usable, space, max(int(min_points), 2), seed, max_scale_uncertainty)


def _relative_scale_uncertainty(pred, target, inliers, scale, shift):
    """Per row, the standard error of the scale over its value, from the inliers (inf without spread)."""
    weight = inliers.to(pred.dtype)
    count = weight.sum(dim=1)
    residual = (scale.unsqueeze(1) * pred + shift.unsqueeze(1) - target) * weight
    sigma = torch.sqrt((residual * residual).sum(dim=1) / torch.clamp(count - 2, min=1))
    mean_p = (pred * weight).sum(dim=1) / count
    spread = torch.sqrt((((pred - mean_p.unsqueeze(1)) * weight) ** 2).sum(dim=1))
    return torch.where(spread > 0, sigma / spread / scale.abs(), torch.full_like(spread, float('inf')))


def _fit_rows(pred, target, valid, space, min_needed, seed, max_scale_uncertainty):
    """The fit proper on compacted rows; decisions and reasons in the reference's order."""
    counts = valid.sum(dim=1)
    enough = counts >= min_needed
    target_spread = _has_spread(target, valid)
    pred_spread = _has_spread(pred, valid)
    attempt = enough & target_spread & pred_spread
    attempt_host = attempt.cpu().numpy()
    counts_host = counts.cpu().numpy()
    draws = [torch.from_numpy(array).to(pred.device) for array in _lmeds_draws(counts_host, attempt_host, seed)]
    scale, shift = _least_median_start(pred, target, valid, *draws)
    scale = torch.where(attempt, scale, torch.full_like(scale, float('nan')))
    shift = torch.where(attempt, shift, torch.full_like(shift, float('nan')))
    spread = masked_quantile(target, valid, 0.95) - masked_quantile(target, valid, 0.05)
    sigma_floor = 1e-6 * torch.clamp(torch.nan_to_num(spread, nan=0.0), min=1e-12)
    scale, shift, inliers = _tukey_irls(pred, target, valid, scale, shift, sigma_floor)
    uncertainty = _relative_scale_uncertainty(pred, target, inliers, scale, shift)
    fitted_m = from_space(scale.unsqueeze(1) * pred + shift.unsqueeze(1), space)
    target_m = from_space(target, space)
    squared = (fitted_m - target_m) ** 2
    counted = inliers & torch.isfinite(squared)
    rmse = torch.sqrt(torch.where(counted, squared, torch.zeros_like(squared)).sum(dim=1) / counted.sum(dim=1))
    host = torch.stack([scale, shift, inliers.sum(dim=1).to(scale.dtype), rmse, uncertainty,
                        target_spread.to(scale.dtype), pred_spread.to(scale.dtype)]).cpu().numpy()
    return [_result(space, int(count), bool(attempted), *column, min_needed, max_scale_uncertainty)
            for count, attempted, column in zip(counts_host, attempt_host, host.T)]


def _result(space, count, attempted, scale, shift, num_inliers, rmse, uncertainty, target_spread, pred_spread,
            min_needed, max_scale_uncertainty):
    """One AlignmentResult, judged by the reference's own verdict rules."""
    result = AlignmentResult(space=space, num_points=count)
    result.reason = sample_verdict(space, count, min_needed, bool(target_spread), bool(pred_spread))
    if result.reason:
        return result
    assert attempted
    result.scale, result.shift, result.num_inliers = float(scale), float(shift), int(num_inliers)
    if not (np.isfinite(scale) and np.isfinite(shift)):
        result.num_inliers = 0
    result.reason = fit_verdict(space, count, min_needed, float(scale), float(shift), result.num_inliers,
                                float(uncertainty), max_scale_uncertainty)
    if result.reason:
        return result
    result.rmse_m = float(rmse)
    result.ok = True
    return result


def _sample_indices(valid, max_points, seed):
    """Per frame, the flat indices the reference fits on: all valid ones, or its seeded subsample."""
    rows = []
    for mask in valid.reshape(valid.shape[0], -1):
        index = torch.nonzero(mask).squeeze(1).cpu().numpy()   # = np.flatnonzero, only the indices cross
        rows.append(thin_samples(index, max_points, seed))
    width = max(1, max(len(index) for index in rows))
    padded = np.zeros((len(rows), width), np.int64)
    present = np.zeros((len(rows), width), bool)
    for row, index in enumerate(rows):
        padded[row, :len(index)] = index
        present[row, :len(index)] = True
    return padded, present


def align_to_sparse_depth(relative, space, sparse_depth, *, min_depth=0.1, max_depth=100.0,
                          min_points=20, max_points=5000, seed=DEFAULT_SEED):
    """Batched alignment.align_to_sparse_depth on tensors: (metric float32, AlignmentResult or list).

    relative and sparse_depth are (H,W) or (B,H,W) (sparse NaN where empty), on the same device; a
    single image gives a single result, a batch a list.
    """
    _check_space(space)
    relative, single = _batched_images(relative, 'relative')
    sparse, _ = _batched_images(sparse_depth, 'sparse_depth')
    sparse = sparse.to(relative.device)
    if sparse.shape != relative.shape:
        raise ValueError(f'sparse_depth: shape {tuple(sparse.shape)} differs from relative shape '
                         f'{tuple(relative.shape)}')
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    low, high = open_interval_bounds(np.float32 if sparse.dtype == torch.float32 else np.float64, min_depth, max_depth)
    valid = (sparse > low) & (sparse < high) & torch.isfinite(relative)      # as alignment.sample_indices
    index, present = _sample_indices(valid, max_points, seed)
    index = torch.from_numpy(index).to(relative.device)
    present = torch.from_numpy(present).to(relative.device)
    pred = relative.reshape(relative.shape[0], -1).gather(1, index).to(torch.float64)
    target = to_space(sparse.reshape(sparse.shape[0], -1).gather(1, index).to(torch.float64), space)
    results = fit_scale_shift(pred, target, space, valid=present, min_points=min_points, seed=seed)
    scale = [result.scale if result.ok else float('nan') for result in results]
    shift = [result.shift if result.ok else float('nan') for result in results]
    metric = apply_alignment(relative, space, scale, shift, min_depth, max_depth)
    return (metric[0], results[0]) if single else (metric, results)
