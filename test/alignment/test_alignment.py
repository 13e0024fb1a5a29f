"""Space transforms and the robust scale/shift fit on controlled data."""
import numpy as np
import pytest

from depthmaster_ros.alignment import (
    Space,
    apply_alignment,
    fit_samples,
    from_space,
    least_squares_scale_shift,
    metric_depth_from_sparse,
    sample_indices,
    to_space,
)


def line_data(rng, n=2000, scale=2.5, shift=-0.3, noise=0.002, outlier_fraction=0.0):
    pred = rng.uniform(0.1, 1.0, n)
    target = scale * pred + shift + noise * rng.standard_normal(n)
    outliers = rng.random(n) < outlier_fraction
    target[outliers] = rng.uniform(target.min(), target.max(), outliers.sum()) + rng.uniform(-1, 1, outliers.sum())
    return pred, target


@pytest.mark.parametrize('space', list(Space))
def test_space_round_trip_and_invalid_values(space):
    depth = np.array([0.5, 2.0, 40.0, 0.0, -1.0, np.nan, np.inf])
    values = to_space(depth, space)
    np.testing.assert_allclose(from_space(values[:3], space), depth[:3])
    assert np.all(np.isnan(values[3:]))
    assert np.all(np.isnan(from_space([0.0, -2.0, np.nan], space)))


def test_space_values_follow_their_definitions():
    assert to_space(4.0, 'sqrt_disparity') == pytest.approx(0.5)
    assert to_space(4.0, 'disparity') == pytest.approx(0.25)
    with pytest.raises(ValueError, match='space'):
        to_space(1.0, 'inverse_depth')


def test_fit_recovers_an_exact_line():
    pred, target = line_data(np.random.default_rng(0), noise=0.0)
    result = fit_samples(pred, target, 'depth')
    assert result.ok and result.reason == ''
    assert result.scale == pytest.approx(2.5, rel=1e-9) and result.shift == pytest.approx(-0.3, abs=1e-9)
    assert result.num_points == result.num_inliers == 2000


def test_twenty_percent_gross_outliers_do_not_move_the_fit():
    rng = np.random.default_rng(1)
    pred, target = line_data(rng, outlier_fraction=0.2)
    result = fit_samples(pred, target, 'depth')
    plain_scale, _ = least_squares_scale_shift(pred, target)
    assert abs(plain_scale - 2.5) > 0.1                 # the outliers do pull an ordinary fit
    assert result.ok
    assert result.scale == pytest.approx(2.5, rel=2e-3)
    assert result.shift == pytest.approx(-0.3, abs=2e-3)
    assert 0.75 * 2000 < result.num_inliers < 0.85 * 2000


def test_rmse_is_in_metres_over_inliers():
    rng = np.random.default_rng(2)
    depth = rng.uniform(1.0, 10.0, 500)
    pred = (to_space(depth, 'sqrt_disparity') - 0.1) / 3.0
    measured = depth * (1.0 + 0.01 * rng.standard_normal(500))
    result = fit_samples(pred, to_space(measured, 'sqrt_disparity'), 'sqrt_disparity')
    expected = np.sqrt(np.mean((depth - measured) ** 2))
    assert result.ok and result.rmse_m == pytest.approx(expected, rel=0.25)


@pytest.mark.parametrize('case, reason', [
    ('few', 'too few points'),
    ('one_depth', 'no depth spread'),
    ('negative', 'non-positive scale'),
    ('nan', 'too few points'),
    ('flat_prediction', 'no spread in the prediction'),
    ('one_noisy_depth', 'depth support too narrow'),
])
def test_degenerate_inputs_are_not_ok_with_a_reason(case, reason):
    rng = np.random.default_rng(3)
    pred = rng.uniform(0.1, 1.0, 200)
    target = 2.0 * pred + 0.5
    if case == 'few':
        pred, target = pred[:10], target[:10]
    elif case == 'one_depth':
        target = np.full_like(pred, to_space(3.0, 'sqrt_disparity'))
    elif case == 'negative':
        target = -2.0 * pred + 3.0
    elif case == 'nan':
        target[:195] = np.nan
    elif case == 'flat_prediction':
        pred = np.full_like(pred, 0.4)
    elif case == 'one_noisy_depth':          # a wall at 3 m: LiDAR and prediction differ by noise only
        depth = 3.0 * (1.0 + 0.02 * rng.standard_normal(200))
        target = to_space(depth, 'sqrt_disparity')
        pred = 0.6 + 0.01 * rng.standard_normal(200)
    result = fit_samples(pred, target, 'sqrt_disparity', min_points=20)
    assert not result.ok
    assert reason in result.reason


def test_apply_alignment_uses_the_official_sqrt_disparity_inverse():
    relative = np.array([[0.2, 0.5], [0.9, -1.0]], np.float32)
    metric = apply_alignment(relative, 'sqrt_disparity', 2.0, 0.1, min_depth=0.1, max_depth=5.0)
    assert metric.dtype == np.float32
    assert metric[0, 0] == pytest.approx(1.0 / (2.0 * 0.2 + 0.1) ** 2, rel=1e-6)
    assert metric[1, 0] == pytest.approx(1.0 / (2.0 * 0.9 + 0.1) ** 2, rel=1e-6)
    assert np.isnan(metric[1, 1])                      # s p + t < 0: no depth
    far = apply_alignment(np.array([[0.01]]), 'sqrt_disparity', 2.0, 0.1, min_depth=0.1, max_depth=5.0)
    assert np.isnan(far[0, 0])                         # 1 / 0.12^2 = 69 m > max_depth


def test_metric_depth_from_sparse_recovers_a_depth_image():
    rng = np.random.default_rng(4)
    depth = rng.uniform(1.0, 20.0, (60, 80))
    relative = 0.4 * to_space(depth, 'disparity') + 0.05
    sparse = np.full_like(depth, np.nan)
    sparse[::5, ::5] = depth[::5, ::5]
    metric, result = metric_depth_from_sparse(relative, 'disparity', sparse, max_points=100)
    assert result.ok and result.num_points == 100 and result.space == 'disparity'
    assert metric.dtype == np.float32 and metric.shape == depth.shape
    np.testing.assert_allclose(metric, depth, rtol=1e-4)
    again, _ = metric_depth_from_sparse(relative, 'disparity', sparse, max_points=100)
    np.testing.assert_array_equal(again, metric)       # fixed-seed subsampling


def test_metric_depth_from_sparse_without_points_gives_nan_image():
    relative = np.random.default_rng(5).random((30, 40))
    metric, result = metric_depth_from_sparse(relative, 'depth', np.full((30, 40), np.nan))
    assert not result.ok and 'too few points' in result.reason
    assert np.all(np.isnan(metric))


def test_bad_shapes_name_the_field():
    with pytest.raises(ValueError, match='sparse_depth'):
        metric_depth_from_sparse(np.zeros((4, 5)), 'depth', np.zeros((5, 4)))
    with pytest.raises(ValueError, match='relative'):
        metric_depth_from_sparse(np.zeros(5), 'depth', np.zeros(5))
    with pytest.raises(ValueError, match='target'):
        fit_samples(np.zeros(5), np.zeros(6))


def test_forty_percent_one_sided_outliers_among_many_points():
    """More samples than score the start (a seeded subset does) and LiDAR-like see-through outliers."""
    rng = np.random.default_rng(6)
    pred, target = line_data(rng, n=4000, noise=0.003)
    behind = rng.random(4000) < 0.4
    target[behind] -= rng.uniform(0.05, 0.5, behind.sum())        # farther than the surface: smaller value
    result = fit_samples(pred, target, 'depth')
    assert result.ok
    assert result.scale == pytest.approx(2.5, rel=5e-3) and result.shift == pytest.approx(-0.3, abs=5e-3)
    assert result.num_inliers <= 0.7 * 4000


@pytest.mark.parametrize('space', list(Space))
def test_apply_alignment_in_float32_matches_the_float64_definition(space):
    rng = np.random.default_rng(7)
    relative = rng.uniform(-0.2, 1.2, (50, 60)).astype(np.float32)
    metric = apply_alignment(relative, space, 1.7, 0.05, min_depth=0.2, max_depth=30.0)
    depth = from_space(1.7 * relative.astype(np.float64) + 0.05, space)
    expected_valid = np.isfinite(depth) & (depth >= 0.2) & (depth <= 30.0)
    near_limit = np.isclose(depth, 0.2, rtol=1e-5) | np.isclose(depth, 30.0, rtol=1e-5)
    assert not np.any((np.isfinite(metric) != expected_valid) & ~near_limit)
    both = np.isfinite(metric) & expected_valid
    np.testing.assert_allclose(metric[both], depth[both], rtol=2e-6)


@pytest.mark.parametrize('space', list(Space))
def test_apply_alignment_without_near_limit_still_rejects_non_positive_values(space):
    relative = np.array([[-1.0, 0.0, 1e-30, 1e30, 0.5]], np.float32)
    metric = apply_alignment(relative, space, 1.0, 0.0, min_depth=0.0, max_depth=np.inf)
    assert np.all(np.isnan(metric[0, :2]))              # s p + t <= 0 has no depth in any space
    assert not np.isinf(metric).any()
    assert np.isfinite(metric[0, 4])


def test_float32_sparse_depth_limits_are_exact():
    """A float32 LiDAR depth is valid when it is strictly inside the limits as a real number."""
    limit = np.float32(0.1)                              # 0.100000001... > 0.1: inside
    below = np.nextafter(limit, np.float32(0))           # 0.0999999940... < 0.1: outside
    sparse = np.full((4, 8), np.nan, np.float32)
    sparse[0, :4] = [limit, below, 5.0, np.float32(80.0)]
    sparse[1, :4] = [np.nextafter(np.float32(80.0), np.float32(0)), 2.0, 3.0, 4.0]
    relative = np.linspace(0.1, 1.0, 32, dtype=np.float32).reshape(4, 8)
    index = sample_indices(relative, sparse, 0.1, 80.0, max_points=100, seed=0)
    wide = sparse.astype(np.float64).ravel()
    expected = np.flatnonzero((wide > 0.1) & (wide < 80.0))
    np.testing.assert_array_equal(index, expected)
    assert 0 in index and 1 not in index and 3 not in index and 8 in index
