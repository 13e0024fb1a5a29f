"""The floor under furniture: chosen from the prediction's geometry, and the height check built on it."""
import numpy as np
import pytest

from depthmaster_ros.alignment import (
    PeriodicHeightCheck,
    camera_to_base_from_height_pitch_roll,
    check_camera_height,
    ground_plane_depth,
    metric_depth_from_sparse,
    select_floor,
)
from depthmaster_ros.geometry import CameraModel

CAMERA = CameraModel.pinhole(640, 480, 518.9, cx=325.6, cy=253.7)
HEIGHT = 1.3


def render(pose, boxes):
    """Depth of the floor (z = 0 of base) and solid boxes ((x0, y0, z0), (x1, y1, z1)) in base; box ids (0 floor)."""
    rays = CAMERA.pixel_rays().reshape(-1, 2)
    directions = np.column_stack([rays, np.ones(len(rays))]) @ pose.rotation.T      # t along it is the depth
    origin = pose.translation
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.where(directions[:, 2] < 0, -origin[2] / directions[:, 2], np.inf)
        ids = np.zeros(len(rays), int)
        inverse = 1.0 / np.where(np.abs(directions) < 1e-12, 1e-12, directions)
        for index, (low, high) in enumerate(boxes, start=1):
            t1, t2 = (np.asarray(low) - origin) * inverse, (np.asarray(high) - origin) * inverse
            near, far = np.minimum(t1, t2).max(axis=1), np.maximum(t1, t2).min(axis=1)
            hit = (far >= near) & (near > 0) & (near < depth)
            depth[hit], ids[hit] = near[hit], index
    depth[~np.isfinite(depth)] = np.nan
    return depth.reshape(CAMERA.height, CAMERA.width).astype(np.float32), ids.reshape(CAMERA.height, CAMERA.width)


def predict(depth, rng):
    """sqrt-disparity, affine to the truth, 1 % depth noise; sky far."""
    depth = np.where(np.isfinite(depth), depth, 300.0) * (1 + 0.01 * rng.standard_normal(depth.shape))
    return (2.0 / np.sqrt(depth) + 0.3).astype(np.float32)


# A low pitch, a sofa and a table 2-5 m ahead that hide most of the floor in view, a cabinet's front beside them.
POSE = camera_to_base_from_height_pitch_roll(HEIGHT, np.radians(6.0), np.radians(2.0))
FURNITURE = [((3.0, -1.6, 0.0), (4.6, 0.0, 0.75)),          # a table top, seen as a solid block
             ((3.2, 0.4, 0.0), (4.2, 2.4, 0.85)),           # a sofa
             ((2.0, -3.2, 0.0), (2.5, -2.0, 1.9))]          # a cabinet


@pytest.fixture(scope='module')
def cluttered():
    depth, ids = render(POSE, FURNITURE)
    return depth, ids, predict(depth, np.random.default_rng(0))


def test_the_floor_is_the_farthest_horizontal_surface_not_the_largest(cluttered):
    depth, ids, relative = cluttered
    plane = ground_plane_depth(CAMERA, POSE, 640, 480, max_depth=10.0)
    visible = np.isfinite(plane)
    assert (ids[visible] > 0).mean() > 0.5               # furniture covers most of the plane's pixels
    selection = select_floor(relative, 'sqrt_disparity', CAMERA, POSE, 10.0)
    assert len(selection.pixels) > 100
    # no table top or sofa seat (their depth is half the floor's there); the feet of their fronts may be kept
    kept_ratio = depth.ravel()[selection.pixels] / plane.ravel()[selection.pixels]
    assert kept_ratio.min() > 0.9
    metric, result = metric_depth_from_sparse(relative, 'sqrt_disparity', selection.depth,
                                              sample_pixels=selection.pixels)
    assert result.ok, result.reason
    error = float(np.nanmedian(metric / depth)) - 1.0
    assert abs(error) < 0.03
    assert abs(error) <= result.scale_uncertainty


def test_no_floor_in_view_selects_nothing():
    looking_up = camera_to_base_from_height_pitch_roll(HEIGHT, np.radians(-40.0))
    relative = np.random.default_rng(1).uniform(0.5, 1.0, (480, 640)).astype(np.float32)
    selection = select_floor(relative, 'sqrt_disparity', CAMERA, looking_up, 10.0)
    assert len(selection.pixels) == 0 and np.isnan(selection.floor_share)


def test_lidar_metres_agree_with_the_true_height(cluttered):
    _, _, relative = cluttered
    check = check_camera_height(relative, 'sqrt_disparity', CAMERA, POSE, 10.0, scale=0.5, shift=-0.15,
                                scale_uncertainty=0.02)
    # relative = 2 / sqrt(d) + 0.3, so sqrt(1 / d) = 0.5 * relative - 0.15: the true metres
    assert check is not None and check.agrees
    assert check.implied_height_m == pytest.approx(HEIGHT, rel=0.02)


def test_a_wrong_height_in_the_pose_is_reported(cluttered):
    _, _, relative = cluttered
    wrong = camera_to_base_from_height_pitch_roll(1.15 * HEIGHT, np.radians(6.0), np.radians(2.0))
    check = check_camera_height(relative, 'sqrt_disparity', CAMERA, wrong, 10.0, scale=0.5, shift=-0.15,
                                scale_uncertainty=0.02)
    assert check is not None and not check.agrees
    assert check.disagreement == pytest.approx(1 / 1.15 - 1, abs=0.03)
    assert check.implied_height_m == pytest.approx(HEIGHT, rel=0.03)


def test_the_height_check_runs_once_per_period(cluttered):
    _, _, relative = cluttered
    periodic = PeriodicHeightCheck()
    first = periodic.update(0.0, relative, 'sqrt_disparity', CAMERA, POSE, 10.0, 0.5, -0.15, 0.02)
    # within the period the last result stands, even for another fit
    assert periodic.update(0.5, relative, 'sqrt_disparity', CAMERA, POSE, 10.0, 0.6, -0.15, 0.02) is first
    later = periodic.update(1.0, relative, 'sqrt_disparity', CAMERA, POSE, 10.0, 0.6, -0.15, 0.02)
    assert later is not first and later.implied_height_m < first.implied_height_m
    assert periodic.update(1.1, relative, 'sqrt_disparity', CAMERA, None, 10.0, 0.5, -0.15, 0.02) is None


def test_the_pose_geometry_is_kept_by_value_and_never_served_for_another_pose(cluttered):
    _, _, relative = cluttered
    first = select_floor(relative, 'sqrt_disparity', CAMERA, POSE, 10.0)
    other_pose = camera_to_base_from_height_pitch_roll(HEIGHT, np.radians(9.0), np.radians(2.0))
    other = select_floor(relative, 'sqrt_disparity', CAMERA, other_pose, 10.0)
    # an equal pose built anew (TF hands over a new transform every frame) is the same geometry
    again = select_floor(relative, 'sqrt_disparity', CAMERA,
                         camera_to_base_from_height_pitch_roll(HEIGHT, np.radians(6.0), np.radians(2.0)), 10.0)
    assert np.array_equal(first.pixels, again.pixels) and first.fit_start == again.fit_start
    np.testing.assert_array_equal(first.depth, again.depth)
    # the other pitch has its own plane: other depths at the pixels both keep, and its own floor line
    shared = np.intersect1d(first.pixels, other.pixels)
    assert len(shared) > 100
    assert not np.allclose(first.depth.ravel()[shared], other.depth.ravel()[shared], rtol=0.01)
    # and the caller's arrays are its own: writing into one selection leaves the next one as it was
    first.depth[:] = 0.0
    first.pixels[:] = 0
    after = select_floor(relative, 'sqrt_disparity', CAMERA, POSE, 10.0)
    np.testing.assert_array_equal(after.depth, again.depth)
    assert np.array_equal(after.pixels, again.pixels)


def test_the_fit_started_from_the_floor_line_lands_where_its_own_robust_start_does(cluttered):
    depth, _, relative = cluttered
    selection = select_floor(relative, 'sqrt_disparity', CAMERA, POSE, 10.0)
    assert selection.fit_start is not None and selection.fit_start[0] > 0
    started = metric_depth_from_sparse(relative, 'sqrt_disparity', selection.depth, sample_pixels=selection.pixels,
                                       start=selection.fit_start)[1]
    drawn = metric_depth_from_sparse(relative, 'sqrt_disparity', selection.depth, sample_pixels=selection.pixels)[1]
    assert started.ok and drawn.ok
    assert abs(started.scale / drawn.scale - 1) < 1e-3 and abs(started.shift - drawn.shift) < 1e-3 * abs(drawn.shift)
    assert abs(started.num_inliers - drawn.num_inliers) <= 0.01 * drawn.num_inliers
    assert started.scale_uncertainty == pytest.approx(drawn.scale_uncertainty, rel=0.05)
