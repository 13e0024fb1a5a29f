"""Local alignment (alignment/local_fit.py): removes a smooth model error the global line cannot, keeps a
foreground object's correction on the object, and is the global fit where no sample reaches."""
import numpy as np
import pytest

from depthmaster_ros.alignment import fit_to_sparse_depth, metric_depth_from_sparse

HEIGHT, WIDTH = 240, 320
BOX = np.s_[80:160, 120:200]                 # a foreground box at 3 m in front of the slanted background


def slanted_depth(height=HEIGHT, width=WIDTH):
    """Metres: 8 m at the top row to 2 m at the bottom (a floor rising to a far wall)."""
    rows = np.linspace(8.0, 2.0, height, dtype=np.float32)[:, None]
    return np.repeat(rows, width, axis=1)


def smooth_error(height=HEIGHT, width=WIDTH, amplitude=0.05):
    """The model's low-frequency multiplicative depth error: a factor 1 +- amplitude."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    return 1.0 + amplitude * np.sin(2 * np.pi * (0.8 * u / width + 0.5 * v / height) + 0.3)


def predict(depth, factor, seed, noise=0.01):
    """Relative sqrt-disparity (scale 2, shift 0.3) of the distorted depth, with 1 % pixel noise."""
    rng = np.random.default_rng(seed)
    distorted = depth * factor * (1.0 + noise * rng.standard_normal(depth.shape))
    return (2.0 / np.sqrt(distorted) + 0.3).astype(np.float32)


def scan_lines(depth, row_step=8):
    """LiDAR-like samples: every row_step-th row, every other column."""
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[::row_step, ::2] = depth[::row_step, ::2]
    return sparse


def random_points(depth, count, seed):
    """VOID-like samples: count random pixels."""
    sparse = np.full(depth.shape, np.nan, np.float32)
    pick = np.random.default_rng(seed).choice(depth.size, count, replace=False)
    sparse.ravel()[pick] = depth.ravel()[pick]
    return sparse


def relative_error(relative, sparse, depth, method):
    metric, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, method=method)
    assert result.ok, result.reason
    return metric / depth - 1.0


@pytest.mark.parametrize('samples', ['scan_lines', 'random_150'])
def test_a_smooth_model_error_is_mostly_removed(samples):
    depth = slanted_depth()
    relative = predict(depth, smooth_error(), seed=1)
    sparse = scan_lines(depth) if samples == 'scan_lines' else random_points(depth, 150, seed=11)
    global_abs_rel = np.mean(np.abs(relative_error(relative, sparse, depth, 'global')))
    local_abs_rel = np.mean(np.abs(relative_error(relative, sparse, depth, 'local')))
    # measured 0.26x (scan lines) and 0.36x (150 points: enough for a field this smooth)
    assert local_abs_rel < 0.45 * global_abs_rel


def test_an_objects_own_error_is_corrected_on_the_object_and_not_beside_it():
    depth = slanted_depth()
    depth[BOX] = 3.0
    sparse = scan_lines(depth)
    object_error = np.ones_like(depth)
    object_error[BOX] = 0.94                   # the model puts the box 6 % too near
    without = relative_error(predict(depth, smooth_error(), seed=2), sparse, depth, 'local')
    errors = {method: relative_error(predict(depth, smooth_error() * object_error, seed=2), sparse, depth, method)
              for method in ('global', 'local')}
    inside = np.s_[88:152, 128:192]
    assert np.mean(np.abs(errors['global'][inside])) > 0.06
    assert np.mean(np.abs(errors['local'][inside])) < 0.015
    beside = np.zeros(depth.shape, bool)       # the 16 px of background around the box
    beside[64:176, 104:216] = True
    beside[BOX] = False
    # how much the box's error moved the background's metres (a blur that ignores the edge: 0.85 %)
    leak = np.mean(np.abs(errors['local'] - without)[beside])
    assert leak < 0.1 * 0.06


def test_far_from_every_sample_the_maps_are_the_global_scale_and_shift():
    height, width = 48, 1600
    depth = slanted_depth(height, width)
    relative = predict(depth, smooth_error(height, width), seed=3)
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[::4, :160:2] = depth[::4, :160:2]            # samples in the left tenth only
    result = fit_to_sparse_depth(relative, 'sqrt_disparity', sparse, method='local')
    assert result.ok and result.local_correction is not None
    scale_map, shift_map = result.local_correction
    assert scale_map.shape == shift_map.shape == depth.shape and scale_map.dtype == np.float32
    assert np.max(np.abs(scale_map[:, :160] / result.scale - 1.0)) > 1e-3     # corrected among the samples
    np.testing.assert_allclose(scale_map[:, 1400:], result.scale, rtol=1e-6)
    np.testing.assert_allclose(shift_map[:, 1400:], result.shift, rtol=1e-6, atol=1e-7)


def test_too_few_samples_leave_no_correction():
    depth = slanted_depth()
    relative = predict(depth, smooth_error(), seed=4)
    result = fit_to_sparse_depth(relative, 'sqrt_disparity', random_points(depth, 12, seed=5), method='local',
                                 min_points=8)
    assert result.ok and result.local_correction is None


@pytest.mark.parametrize('seed', [1, 2, 4])
def test_an_object_the_global_line_rejects_is_corrected_from_its_own_few_samples(seed):
    """50 random samples; the far third of the view (a wall) is predicted 10 % too near. The robust global
    line takes the wall's samples for outliers; held out, they are predicted best by a correction that uses
    them, so the local method does."""
    depth = slanted_depth()
    factor = np.ones_like(depth)
    factor[:80] = 0.9
    relative = predict(depth, factor, seed=seed)
    sparse = random_points(depth, 50, seed=seed + 20)
    wall = {method: np.mean(np.abs(relative_error(relative, sparse, depth, method)[:80])) for method in ('global', 'local')}
    whole = {method: np.mean(np.abs(relative_error(relative, sparse, depth, method))) for method in ('global', 'local')}
    result = fit_to_sparse_depth(relative, 'sqrt_disparity', sparse, method='local')
    assert result.num_inliers < 45 and wall['global'] > 0.08          # the line misses the wall
    assert result.method == 'local' and wall['local'] < 0.035          # measured 0.023-0.031
    assert whole['local'] < 0.6 * whole['global']                      # measured 0.46-0.57


def test_each_samples_left_out_correction_is_the_fit_without_it():
    """The held-out test's left-out predictions are exact: the same as refitting without the sample."""
    from depthmaster_ros.alignment import local_fit
    rng = np.random.default_rng(6)
    grid = (15, 20)
    cell = rng.integers(0, grid[0] * grid[1], 80)
    u, rho = rng.normal(0.0, 0.3, 80), rng.normal(0.0, 0.02, 80) + 0.01 * (cell % grid[1] > 10)
    weight = rng.uniform(0.2, 1.0, 80)
    for prior, slope_sigma in (local_fit.DENSE, local_fit.SPARSE):
        levels = local_fit._Levels(prior, slope_sigma, prior * 0.01)
        _, left_out = levels.fit(local_fit._cell_sums(cell, grid, u, rho, weight), (cell, u, rho, weight))
        for i in (0, 17, 79):
            without = weight.copy()
            without[i] = 0.0
            (m, g, u_mean), _ = levels.fit(local_fit._cell_sums(cell, grid, u, rho, without))
            refit = m.ravel()[cell[i]] + g.ravel()[cell[i]] * (u[i] - u_mean.ravel()[cell[i]])
            assert left_out[i] == pytest.approx(refit, abs=2e-5)
