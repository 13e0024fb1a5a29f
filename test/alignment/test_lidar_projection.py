"""Projecting LiDAR points into a sparse depth image: z-buffer, range, resizing, occlusion filter."""
import numpy as np
import pytest

from depthmaster_ros.alignment import occlusion_mask, project_to_sparse_depth
from depthmaster_ros.geometry import CameraModel

CAMERA = CameraModel.pinhole(64, 48, 50.0)


def point_at_pixel(camera, u, v, z):
    x, y = camera.pixel_rays()[v, u]
    return [x * z, y * z, z]


def test_points_land_on_their_pixel_and_the_nearest_wins():
    points = np.array([point_at_pixel(CAMERA, 10, 20, 3.0), point_at_pixel(CAMERA, 10, 20, 2.0),
                       point_at_pixel(CAMERA, 40, 5, 7.5)])
    result = project_to_sparse_depth(points, CAMERA, 64, 48, occlusion_window=1)
    assert result.depth.dtype == np.float32 and result.depth.shape == (48, 64)
    assert result.depth[20, 10] == pytest.approx(2.0)
    assert result.depth[5, 40] == pytest.approx(7.5)
    assert np.isfinite(result.depth).sum() == 2
    assert result.num_in_view == 3 and result.num_occluded == 0


def test_points_out_of_range_or_view_are_dropped():
    points = np.array([point_at_pixel(CAMERA, 5, 5, 0.05), point_at_pixel(CAMERA, 6, 5, 150.0),
                       [0.0, 0.0, -2.0], [100.0, 0.0, 1.0], [np.nan, 0.0, 1.0], point_at_pixel(CAMERA, 7, 5, 4.0)])
    result = project_to_sparse_depth(points, CAMERA, 64, 48, min_depth=0.1, max_depth=100.0)
    assert result.num_in_view == 1
    assert np.isfinite(result.depth).sum() == 1 and result.depth[5, 7] == pytest.approx(4.0)


def test_output_size_scales_the_camera():
    rng = np.random.default_rng(0)
    points = np.column_stack([rng.uniform(-2, 2, 300), rng.uniform(-1.5, 1.5, 300), rng.uniform(2, 9, 300)])
    half = project_to_sparse_depth(points, CAMERA, 32, 24, occlusion_window=1).depth
    direct = project_to_sparse_depth(points, CAMERA.scaled(32, 24), 32, 24, occlusion_window=1).depth
    np.testing.assert_array_equal(half, direct)
    assert half.shape == (24, 32)


def test_distortion_is_honoured():
    camera = CameraModel.pinhole(64, 48, 50.0, D=[-0.2, 0.05, 0, 0, 0], distortion_model='plumb_bob')
    point = np.array([[1.0, 0.8, 2.0]])
    uv, valid = camera.project(point)
    assert valid[0]
    depth = project_to_sparse_depth(point, camera, 64, 48).depth
    row, col = np.argwhere(np.isfinite(depth))[0]
    assert (col, row) == (int(np.floor(uv[0, 0] + 0.5)), int(np.floor(uv[0, 1] + 0.5)))
    pinhole_col = int(np.floor(50.0 * 0.5 + 31.5 + 0.5))
    assert col != pinhole_col


def test_occlusion_filter_drops_background_points_among_foreground():
    depth = np.full((40, 40), np.nan, np.float32)
    depth[10:30:3, 10:30:3] = 2.0          # a sparse foreground object
    depth[16, 17] = 6.0                    # background seen through it
    depth[35, 35] = 6.0                    # background far from any foreground: kept
    mask = occlusion_mask(depth, window=5, rel_threshold=0.1)
    assert mask[16, 17] and not mask[35, 35]
    assert mask.sum() == 1


def test_occlusion_counts_are_reported():
    foreground = [point_at_pixel(CAMERA, u, 20, 2.0) for u in range(20, 30, 2)]
    behind = [point_at_pixel(CAMERA, 25, 21, 8.0)]
    result = project_to_sparse_depth(np.array(foreground + behind), CAMERA, 64, 48, occlusion_window=5)
    assert result.num_occluded == 1 and np.isnan(result.depth[21, 25])
    assert np.isfinite(result.depth).sum() == len(foreground)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match='points_cam'):
        project_to_sparse_depth(np.zeros((5, 2)), CAMERA, 64, 48)
    with pytest.raises(ValueError, match='occlusion_rel_threshold'):
        occlusion_mask(np.zeros((4, 4), np.float32), 3, -1.0)


def reference_sparse_depth(points, camera, min_depth, max_depth, window, rel_threshold):
    """The projection rules applied point by point, without the cull, the packed sort or the band."""
    depth = np.full((camera.height, camera.width), np.nan, np.float32)
    uv, valid = camera.project(points)
    for (u, v), ok, z in zip(uv, valid, points[:, 2]):
        if ok and min_depth < z < max_depth:
            row, col = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))
            if not depth[row, col] <= z:                  # NaN (empty) or farther: the nearer point wins
                depth[row, col] = z
    depth[occlusion_mask(depth, window, rel_threshold)] = np.nan
    return depth


@pytest.mark.parametrize('distortion', [False, True])
def test_a_full_scan_matches_the_point_by_point_rules(distortion):
    """A 360-degree scan, most of it behind or beside the camera, some of it below min_depth."""
    D = [-0.25, 0.08, 0.001, -0.002, 0.0] if distortion else ()
    camera = CameraModel.pinhole(64, 48, 40.0, D=D, distortion_model='plumb_bob' if distortion else '')
    rng = np.random.default_rng(8)
    azimuth = rng.uniform(-np.pi, np.pi, 6000)
    elevation = rng.uniform(-0.6, 0.6, 6000)
    distance = rng.uniform(0.05, 12.0, 6000)
    points = np.column_stack([distance * np.cos(elevation) * np.sin(azimuth), distance * np.sin(elevation),
                              distance * np.cos(elevation) * np.cos(azimuth)]).astype(np.float32)
    result = project_to_sparse_depth(points, camera, 64, 48, min_depth=0.1, max_depth=10.0,
                                     occlusion_window=5, occlusion_rel_threshold=0.1)
    expected = reference_sparse_depth(points.astype(np.float64), camera, 0.1, 10.0, 5, 0.1)
    np.testing.assert_array_equal(result.depth, expected)
    assert 100 < np.isfinite(expected).sum() and result.num_occluded > 0


def scan_image(shape=(60, 90), row_gap=6, col_gap=2, depth=10.0):
    """A sparse image like a multi-beam scan: lines every row_gap rows, returns every col_gap columns."""
    image = np.full(shape, np.nan, np.float32)
    image[3::row_gap, 1::col_gap] = depth
    return image


def test_a_lone_near_return_does_not_erase_its_neighbourhood():
    depth = scan_image()
    depth[27, 45] = 2.0                        # one spurious near return (dust, a multipath echo)
    mask = occlusion_mask(depth, window=15, rel_threshold=0.1)
    assert not mask.any(), f'{int(mask.sum())} good returns erased by a single outlier'


def test_a_surface_of_several_returns_still_occludes():
    depth = scan_image()
    depth[21:34:6, 41:50:2] = 2.0              # a small object: 3 scan lines x 5 returns
    depth[24, 44] = 10.0                       # background seen between its lines
    mask = occlusion_mask(depth, window=15, rel_threshold=0.1)
    assert mask[24, 44]
    assert not mask[depth == 2.0].any()


def test_window_follows_the_scan_line_spacing():
    """Dense lines (2 rows apart): background 4 rows below an object is outside its window, see-through is not."""
    depth = scan_image(row_gap=2)
    depth[21:31:2, 41:50:2] = 2.0              # the object on 5 scan lines
    depth[24, 44] = 10.0                       # background seen between two of them
    mask = occlusion_mask(depth, window=15, rel_threshold=0.1)
    assert mask[24, 44]
    assert depth[33, 45] == 10.0 and not mask[33, 45]
    assert mask.sum() == 1


def reference_occlusion_mask(depth, max_window, rel_threshold):
    """The filter's rules spelled out with shifted copies of the image (no erosion, no band, no ranks)."""
    from depthmaster_ros.alignment import lidar_projection as lp
    height, width = depth.shape
    rows, cols = np.nonzero(np.isfinite(depth))
    values = depth[rows, cols]
    sampled = (cols * 2654435761) % 64 < 64 // lp.SPACING_COLUMN_STEP
    order = np.lexsort((rows[sampled], cols[sampled]))
    s_rows, s_cols = rows[sampled][order], cols[sampled][order]
    row_gaps = np.diff(s_rows)[np.diff(s_cols) == 0]
    col_gaps = np.diff(cols)[np.diff(rows) == 0]
    row_gap = float(np.median(row_gaps)) if len(row_gaps) else np.nan
    col_gap = float(np.median(col_gaps)) if len(col_gaps) else np.nan
    reach = {axis: int(np.ceil(lp.WINDOW_PER_LINE_GAP * gap)) if np.isfinite(gap) else lp.MIN_WINDOW
             for axis, gap in (('h', col_gap), ('v', row_gap))}
    pad = max(reach.values()) + max_window + 1
    filled = np.pad(np.where(np.isfinite(depth), depth, np.inf).astype(np.float32), pad, constant_values=np.inf)

    def nearest(image, row_steps, col_steps):
        return np.min([image[rows + pad + dr, cols + pad + dc] for dr in row_steps for dc in col_steps], axis=0)

    limit = np.float32(1 + rel_threshold) * values
    support = sum(nearest(filled, *steps) <= limit for steps in (
        ((-1, 0, 1), range(1, reach['h'] + 1)), ((-1, 0, 1), range(-reach['h'], 0)),
        (range(1, reach['v'] + 1), (-1, 0, 1)), (range(-reach['v'], 0), (-1, 0, 1))))
    occluders = np.full_like(filled, np.inf)
    keep = support >= lp.SUPPORT_DIRECTIONS
    occluders[rows[keep] + pad, cols[keep] + pad] = values[keep]
    window = lp.occlusion_window_for(row_gap, max_window)
    steps = range(-(window // 2), window - window // 2)
    mask = np.zeros(depth.shape, bool)
    mask[rows, cols] = values > np.float32(1 + rel_threshold) * nearest(occluders, steps, steps)
    return mask


def random_scan(shape, seed, share=None):
    """Scan lines with objects nearer than the background, or (share) returns scattered at random."""
    rng = np.random.default_rng(seed)
    depth = np.full(shape, np.nan, np.float32)
    if share is None:
        depth[int(rng.integers(0, 6))::int(rng.integers(2, 14)), ::int(rng.integers(1, 5))] = 20.0
    else:
        depth[rng.random(shape) < share] = 20.0
    returns = np.isfinite(depth)
    depth[returns] = rng.uniform(5.0, 30.0, returns.sum())
    for _ in range(6):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        depth[r:r + rng.integers(3, 40), c:c + rng.integers(3, 40)] *= 0.3      # a near object
    return depth


@pytest.mark.parametrize('seed, shape, share, window', [
    (0, (120, 160), None, 15), (1, (240, 320), None, 15), (2, (240, 320), None, 6), (3, (90, 70), 0.05, 15),
    (4, (300, 260), 0.9, 5),        # more returns than a 16-bit rank holds: the float32 keys
])
def test_the_occlusion_filter_follows_its_rules(seed, shape, share, window):
    depth = random_scan(shape, seed, share)
    expected = reference_occlusion_mask(depth, window, 0.1)
    np.testing.assert_array_equal(occlusion_mask(depth, window, 0.1), expected)
    assert expected.any() and (share != 0.9 or np.isfinite(depth).sum() > 65535)


def test_zero_and_negative_depths_are_filtered_by_value():
    depth = random_scan((60, 90), 5)
    depth[::7, ::3] *= -1.0
    depth[3, 3:30] = 0.0
    np.testing.assert_array_equal(occlusion_mask(depth, 15, 0.1), reference_occlusion_mask(depth, 15, 0.1))
