"""A LiDAR-camera rotation error shows as samples that fit the prediction better a few pixels away."""
import numpy as np

from depthmaster_ros.alignment.extrinsic_check import estimate_offset
from depthmaster_ros.alignment.fit import align_to_sparse_depth, from_space, to_space


def street_depth(height=120, width=200):
    """Floor below the horizon (depth grows towards it), a wall band above: depth varies with the row."""
    rows = np.arange(height, dtype=np.float32)[:, None] - 40.0
    depth = np.where(rows > 2, 80.0 / np.maximum(rows, 2.0), 40.0) * np.ones((1, width), np.float32)
    return np.clip(depth, 1.0, 40.0).astype(np.float32)


def test_a_pitch_error_is_found_and_the_fit_is_not_ok():
    rng = np.random.default_rng(0)
    depth = street_depth()
    relative = (2.0 * to_space(depth, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    rows, cols = np.mgrid[44:118:4, 2:198:3]
    shifted = np.clip(rows + 8, 0, depth.shape[0] - 1)          # the LiDAR sees what is 8 rows lower
    sparse[rows, cols] = depth[shifted, cols] * (1 + 0.01 * rng.standard_normal(rows.shape))
    index = np.flatnonzero(np.isfinite(sparse))
    estimate = estimate_offset(relative, index, to_space(sparse.ravel()[index], 'sqrt_disparity'))
    assert estimate.suspicious and abs(estimate.rows_px - 8) <= 2 and abs(estimate.cols_px) <= 2
    _, result = align_to_sparse_depth(relative, 'sqrt_disparity', sparse, focal_px=100.0, check_extrinsic=True)
    assert not result.ok and 'extrinsic' in result.reason, result
    assert abs(result.extrinsic_pitch_deg - np.degrees(np.arctan2(8, 100.0))) < 1.5
    # refused, its published uncertainty still covers how wrong its scale is
    fitted = from_space(result.scale * relative + result.shift, 'sqrt_disparity')
    error = float(np.median(fitted / depth) - 1.0)
    assert 0.03 < abs(error) <= result.scale_uncertainty, (error, result.scale_uncertainty)


def test_aligned_samples_report_no_offset():
    depth = street_depth()
    relative = (2.0 * to_space(depth, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[44:118:4, 2:198:3] = depth[44:118:4, 2:198:3]
    _, result = align_to_sparse_depth(relative, 'sqrt_disparity', sparse, focal_px=100.0, check_extrinsic=True)
    assert result.ok and np.isnan(result.extrinsic_pitch_deg)
