"""The fit says when it cannot be trusted: contamination, narrow depth support, and an honest uncertainty."""
import numpy as np
import pytest

from depthmaster_ros.alignment.fit import align_to_sparse_depth, fit_scale_shift, from_space, to_space
from depthmaster_ros.alignment.verdicts import breakdown_ratio


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
    result = fit_scale_shift(pred, target, 'sqrt_disparity', groups=groups)
    assert not result.ok, (result, scale_error(result, pred, depth))
    assert 'inlier share' in result.reason or 'broke down' in result.reason


@pytest.mark.parametrize('low, high', [(5.0, 5.5), (30.0, 33.0)])
def test_a_narrow_depth_band_is_not_ok_or_its_uncertainty_covers_the_error(low, high):
    """LiDAR on one wall: regressing metres on the noisy prediction biases the scale strongly."""
    rng = np.random.default_rng(2)
    pred, target, depth, groups = street_like(rng, 800, low, high)
    every_pred, _, every_depth, _ = street_like(np.random.default_rng(3), 5000)   # the rest of the image
    result = fit_scale_shift(pred, target, 'sqrt_disparity', groups=groups,
                             eval_pred=np.quantile(every_pred, [0.25, 0.5, 0.75]))
    error = scale_error(result, every_pred, every_depth)
    assert not (result.ok and abs(error) > 0.10), (result, error)
    assert abs(error) <= result.scale_uncertainty, (error, result.scale_uncertainty)


def test_errors_in_variables_are_not_regressed_away():
    """Wide support but a noisy prediction: the scale is not shrunk towards zero (attenuation)."""
    rng = np.random.default_rng(4)
    pred, target, depth, groups = street_like(rng, 3000, 8.0, 14.0, distortion=0.0, noise=0.03)
    result = fit_scale_shift(pred, target, 'sqrt_disparity', groups=groups)
    assert result.scale == pytest.approx(0.5, rel=0.03), result


def test_uncertainty_covers_the_error_on_clean_wide_support():
    rng = np.random.default_rng(5)
    pred, target, depth, groups = street_like(rng)
    result = fit_scale_shift(pred, target, 'sqrt_disparity', groups=groups)
    assert result.ok and 0 < result.scale_uncertainty <= 0.1
    assert abs(scale_error(result, pred, depth)) <= result.scale_uncertainty


def test_breakdown_ratio_separates_gaussian_noise_from_a_broken_start():
    rng = np.random.default_rng(6)
    gaussian = rng.standard_normal(4000)
    broken = np.concatenate([0.1 * rng.standard_normal(1800), rng.uniform(-20, 20, 2200)])
    assert breakdown_ratio(gaussian) < 1.2 < 2.0 < breakdown_ratio(broken)


def test_align_to_sparse_depth_reports_the_uncertainty_and_the_method():
    rng = np.random.default_rng(7)
    depth = rng.uniform(2.0, 40.0, (60, 80)).astype(np.float32)
    relative = (2.0 / np.sqrt(depth) + 0.3).astype(np.float32)
    sparse = np.where(rng.random(depth.shape) < 0.1, depth, np.nan).astype(np.float32)
    metric, result = align_to_sparse_depth(relative, 'sqrt_disparity', sparse)
    assert result.ok and result.method == 'global' and np.isfinite(result.scale_uncertainty)
    with pytest.raises(ValueError, match='method'):
        align_to_sparse_depth(relative, 'sqrt_disparity', sparse, method='nearest')
