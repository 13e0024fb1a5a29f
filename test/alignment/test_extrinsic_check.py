"""A LiDAR-camera rotation error shows as samples that fit the prediction better a few pixels away."""
import numpy as np
import pytest

from depthmaster_ros.alignment import estimate_offset, from_space, gradient_offset, metric_depth_from_sparse, to_space


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
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, focal_px=100.0, check_extrinsic=True)
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
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, focal_px=100.0, check_extrinsic=True)
    assert result.ok and np.isnan(result.extrinsic_pitch_deg)


def reference_offset(relative, index, target, seed=0):
    """The check spelled out one offset at a time: a plain line fit, a trimmed refit, the median residual."""
    from depthmaster_ros.alignment import extrinsic_check as ec
    height, width = relative.shape
    rows, cols = index // width, index % width
    inside = ((rows >= ec.SEARCH_PX) & (rows < height - ec.SEARCH_PX) & (cols >= ec.SEARCH_PX)
              & (cols < width - ec.SEARCH_PX))
    rows, cols, target = rows[inside], cols[inside], target[inside]
    if len(rows) > ec.MAX_SAMPLES:
        pick = np.random.default_rng(seed).choice(len(rows), ec.MAX_SAMPLES, replace=False)
        rows, cols, target = rows[pick], cols[pick], target[pick]
    on_axes = [relative[rows + k, cols] for k in ec.OFFSETS] + [relative[rows, cols + k] for k in ec.OFFSETS]
    usable = np.all(np.isfinite(on_axes), axis=0)
    rows, cols, target = rows[usable], cols[usable], target[usable]
    if len(rows) < ec.MIN_SAMPLES:
        return 0, 0, 1.0

    def residuals(p, t, keep):
        slope, intercept = np.polyfit(p[keep], t[keep], 1)
        return np.abs(t - (slope * p + intercept))

    def middle(values):                   # the upper median: an element, as the check takes it
        return float(np.sort(values)[len(values) // 2])

    def score(row_offset, col_offset, among):
        p = relative[rows + row_offset, cols + col_offset].astype(np.float64)
        finite = np.all(np.isfinite([relative[rows + row_offset, cols + k] for k in among]), axis=0)
        p, t = p[finite], target[finite]
        residual = residuals(p, t, np.ones(len(p), bool))
        return middle(residuals(p, t, residual <= ec.TRIM * middle(residual)))

    by_rows = [score(k, 0, [0]) for k in ec.OFFSETS]
    base, at_rows = by_rows[0], min(by_rows)
    best_rows = int(ec.OFFSETS[int(np.argmin(by_rows))])
    by_cols = [score(best_rows, k, ec.OFFSETS) for k in ec.OFFSETS]
    best_cols = int(ec.OFFSETS[int(np.argmin(by_cols))]) if min(by_cols) < ec.AXIS_GAIN * at_rows else 0
    best_rows = best_rows if at_rows < ec.AXIS_GAIN * base else 0
    return best_rows, best_cols, score(best_rows, best_cols, [best_cols]) / base


@pytest.mark.parametrize('case', range(8))
def test_the_batched_check_finds_what_one_fit_per_offset_finds(case):
    """Pitch, yaw, both or none, with outliers, and holes in the map (off-axis moves meet them)."""
    rng = np.random.default_rng(case)
    depth = street_depth() * (1 + 0.3 * np.sin(np.arange(200) / (5 + 3 * case)))[None].astype(np.float32)
    relative = (2.0 * to_space(depth, 'sqrt_disparity') + 0.3).astype(np.float32)
    if case % 2:
        relative[rng.random(relative.shape) < 0.01] = np.nan
    row_error, col_error = [(0, 0), (8, 0), (0, -12), (-8, 8)][case % 4]
    rows, cols = np.mgrid[30:94:3, 26:174:2]
    sampled = depth[rows + row_error, cols + col_error] * (1 + 0.02 * rng.standard_normal(rows.shape))
    outliers = rng.random(rows.shape) < 0.15
    sampled[outliers] *= rng.uniform(0.3, 2.0, outliers.sum())
    index, target = (rows * 200 + cols).ravel(), to_space(sampled.ravel(), 'sqrt_disparity')
    estimate = estimate_offset(relative, index, target, seed=case)
    rows_px, cols_px, improvement = reference_offset(relative, index, target, seed=case)
    assert (estimate.rows_px, estimate.cols_px) == (rows_px, cols_px)
    assert estimate.improvement == pytest.approx(improvement, rel=1e-9)


def facade_scene(height=120, width=240):
    """A facade seen at an angle above the floor: its depth grows along the columns (6 to 20 m)."""
    depth = street_depth(height, width)
    depth[:40] = (6.0 + 14.0 * np.arange(width) / width)[None, :]
    return depth


@pytest.mark.parametrize('shift_px, expect_local', [(20, False), (0, True)])
def test_local_alignment_falls_back_to_global_when_the_samples_sit_a_cell_away(shift_px, expect_local):
    depth = facade_scene()
    smooth = 1.0 + 0.05 * np.sin(np.linspace(0.0, np.pi, depth.shape[1], dtype=np.float32))[None, :]
    relative = (2.0 * to_space(depth * smooth, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    rows, cols = np.mgrid[10:118:3, 26:214:2]
    sparse[rows, cols] = depth[rows, cols + shift_px]              # the LiDAR sees what is shift_px columns right
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, focal_px=100.0, check_extrinsic=True,
                                      method='local')
    assert result.ok, result
    if expect_local:
        assert result.method == 'local' and result.local_correction is not None
    else:                       # the offset is reported, and no correction is put on pixels the samples do not see
        assert abs(result.extrinsic_yaw_deg) > 5.0 and result.method == 'global' and result.local_correction is None


def two_facade_street(height=240, width=480):
    """A street seen down its middle: the floor below row 100, above it the facades on either side, their depth
    growing from 6 m at the image's sides to 20 m at its centre (opposite slopes left and right)."""
    rows = np.arange(height, dtype=np.float32)[:, None] - 100.0
    depth = np.where(rows > 2, 160.0 / np.maximum(rows, 2.0), 40.0) * np.ones((1, width), np.float32)
    depth[:100] = (20.0 - 14.0 * np.abs(np.arange(width) - width / 2) / (width / 2))[None, :]
    return np.clip(depth, 1.0, 40.0).astype(np.float32)


def shifted_street_samples(shift_px):
    """(relative with a smooth 5 % model error, sparse samples that hold the depth shift_px columns right)."""
    depth = two_facade_street()
    smooth = 1.0 + 0.05 * np.sin(np.linspace(0.0, np.pi, depth.shape[1], dtype=np.float32))[None, :]
    relative = (2.0 * to_space(depth * smooth, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    rows, cols = np.mgrid[20:230:4, 20:440:3]
    noise = 1.0 + 0.01 * np.random.default_rng(shift_px).standard_normal(rows.shape)
    sparse[rows, cols] = depth[rows, cols + shift_px] * noise
    return relative, sparse


@pytest.mark.parametrize('shift_px', [0, 8])
def test_the_residuals_slope_measures_an_offset_smaller_than_a_cell(shift_px):
    relative, sparse = shifted_street_samples(shift_px)
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse)
    index = np.flatnonzero(np.isfinite(sparse))
    fitted = result.scale * relative.ravel()[index] + result.shift
    offset = gradient_offset(relative, index, fitted, to_space(sparse.ravel()[index], 'sqrt_disparity'), result.scale)
    if shift_px:
        assert offset is not None and abs(offset[1] - shift_px) < 1.5 and abs(offset[0]) < 1.0, offset
    else:
        assert offset is None


@pytest.mark.parametrize('shift_px, expect_local', [(8, False), (0, True)])
def test_local_alignment_falls_back_to_global_on_an_offset_the_search_leaves_below_a_cell(shift_px, expect_local):
    relative, sparse = shifted_street_samples(shift_px)
    focal_px = 200.0
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, focal_px=focal_px, check_extrinsic=True,
                                      method='local')
    assert result.ok, result
    # the search alone would have kept the local correction: it found no offset, or one below a cell
    assert not abs(result.extrinsic_yaw_deg) >= np.degrees(np.arctan2(16, focal_px))
    if expect_local:
        assert result.method == 'local' and result.local_correction is not None
    else:                       # samples that would move each facade's correction by 8 columns: the global line
        assert result.method == 'global' and result.local_correction is None
