"""The fit says when it cannot be trusted: contamination, narrow depth support, and an honest uncertainty."""
import numpy as np
import pytest

from depthmaster_ros.alignment import breakdown_ratio, fit_samples, from_space, metric_depth_from_sparse, to_space


def street_like(rng, count=3000, low=3.0, high=60.0, distortion=0.03, noise=0.01):
    """Targets in sqrt-disparity and a prediction 2 * f(depth * (1 + error)) + 0.3 with a smooth error."""
    depth = rng.uniform(low, high, count)
    position = rng.uniform(0, 1, count)
    error = distortion * np.sin(2 * np.pi * position) + noise * rng.standard_normal(count)
    pred = 2.0 * to_space(depth * (1 + error), 'sqrt_disparity') + 0.3
    return pred, to_space(depth, 'sqrt_disparity'), depth, (position * 16).astype(int)


def scale_error(result, pred, depth):
    fitted = from_space(result.scale * pred + result.shift, 'sqrt_disparity')
    return float(np.median(fitted / depth) - 1.0)


def test_majority_contamination_is_not_ok():
    """55 % of the samples wrong: the least-median start breaks down and must not end in ok: true."""
    rng = np.random.default_rng(1)
    pred, target, depth, groups = street_like(rng)
    bad = rng.random(len(pred)) < 0.55
    wrong_depth = depth[bad] * np.where(rng.random(bad.sum()) < 0.7, rng.uniform(0.15, 0.85, bad.sum()),
                                        rng.uniform(1.2, 2.5, bad.sum()))
    target = target.copy()
    target[bad] = to_space(wrong_depth, 'sqrt_disparity')
    result = fit_samples(pred, target, 'sqrt_disparity', groups=groups)
    assert not result.ok, (result, scale_error(result, pred, depth))
    assert 'inlier share' in result.reason or 'broke down' in result.reason


@pytest.mark.parametrize('low, high', [(5.0, 5.5), (30.0, 33.0)])
def test_a_narrow_depth_band_is_not_ok_or_its_uncertainty_covers_the_error(low, high):
    """LiDAR on one wall: regressing metres on the noisy prediction biases the scale strongly."""
    rng = np.random.default_rng(2)
    pred, target, depth, groups = street_like(rng, 800, low, high)
    every_pred, _, every_depth, _ = street_like(np.random.default_rng(3), 5000)   # the rest of the image
    result = fit_samples(pred, target, 'sqrt_disparity', groups=groups,
                             eval_pred=np.quantile(every_pred, [0.25, 0.5, 0.75]))
    error = scale_error(result, every_pred, every_depth)
    assert not (result.ok and abs(error) > 0.10), (result, error)
    assert abs(error) <= result.scale_uncertainty, (error, result.scale_uncertainty)


@pytest.mark.parametrize('seed', range(4))
def test_a_refused_narrow_band_publishes_the_spread_of_the_regressions(seed):
    """Too narrow to choose between the forward and the inverse regression: the refusal says how far apart they are."""
    pred, target, depth, groups = street_like(np.random.default_rng(seed), 800, 30.0, 33.0)
    every_pred, _, every_depth, _ = street_like(np.random.default_rng(100 + seed), 5000)
    at = np.quantile(every_pred, [0.25, 0.5, 0.75])
    result = fit_samples(pred, target, 'sqrt_disparity', groups=groups, eval_pred=at)
    assert not result.ok and 'too narrow' in result.reason
    p, t = pred - pred.mean(), target - target.mean()
    published = from_space(result.scale * at + result.shift, 'sqrt_disparity')
    for slope in ((p @ t) / (p @ p), (t @ t) / (p @ t)):            # forward and inverse regression
        line = from_space(slope * (at - pred.mean()) + target.mean(), 'sqrt_disparity')
        assert np.all(np.abs(line / published - 1) <= result.scale_uncertainty), (slope, result.scale_uncertainty)
    assert abs(scale_error(result, every_pred, every_depth)) <= result.scale_uncertainty


def test_samples_in_one_part_of_the_image_leave_the_rest_uncertain():
    """Floor-like samples in the bottom rows only: the prediction's error above them is not seen by any sample."""
    height, width = 120, 160
    rows = np.arange(height, dtype=np.float64)[:, None] / height * np.ones((1, width))
    depth = 1.0 + 20.0 * (1.0 - rows) ** 2
    model_error = 0.04 / (1 + np.exp((rows - 0.5) / 0.05))     # 4 % too far in the upper half, right below
    relative = (2.0 * to_space(depth * (1 + model_error), 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[90::3, ::3] = depth[90::3, ::3]
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse)
    fitted = from_space(result.scale * relative + result.shift, 'sqrt_disparity')
    error = float(np.median(fitted / depth) - 1.0)
    assert result.ok and abs(error) > 0.015, (result, error)
    assert abs(error) <= result.scale_uncertainty <= 0.1, (error, result.scale_uncertainty)


def test_errors_in_variables_are_not_regressed_away():
    """Wide support but a noisy prediction: the scale is not shrunk towards zero (attenuation)."""
    rng = np.random.default_rng(4)
    pred, target, depth, groups = street_like(rng, 3000, 8.0, 14.0, distortion=0.0, noise=0.03)
    result = fit_samples(pred, target, 'sqrt_disparity', groups=groups)
    assert result.scale == pytest.approx(0.5, rel=0.03), result


def test_uncertainty_covers_the_error_on_clean_wide_support():
    rng = np.random.default_rng(5)
    pred, target, depth, groups = street_like(rng)
    result = fit_samples(pred, target, 'sqrt_disparity', groups=groups)
    assert result.ok and 0 < result.scale_uncertainty <= 0.1
    assert abs(scale_error(result, pred, depth)) <= result.scale_uncertainty


def test_breakdown_ratio_separates_gaussian_noise_from_a_broken_start():
    rng = np.random.default_rng(6)
    gaussian = rng.standard_normal(4000)
    broken = np.concatenate([0.1 * rng.standard_normal(1800), rng.uniform(-20, 20, 2200)])
    assert breakdown_ratio(gaussian) < 1.2 < 2.0 < breakdown_ratio(broken)


def test_metric_depth_from_sparse_reports_the_uncertainty_and_the_method():
    rng = np.random.default_rng(7)
    depth = rng.uniform(2.0, 40.0, (60, 80)).astype(np.float32)
    relative = (2.0 / np.sqrt(depth) + 0.3).astype(np.float32)
    sparse = np.where(rng.random(depth.shape) < 0.1, depth, np.nan).astype(np.float32)
    metric, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse)
    assert result.ok and result.method == 'global' and np.isfinite(result.scale_uncertainty)
    with pytest.raises(ValueError, match='method'):
        metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, method='nearest')
