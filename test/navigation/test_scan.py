"""scan_from_depth and merge_scans against hand-built depth images whose scan is known exactly."""
import dataclasses
import math

import numpy as np
import pytest

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import CameraModel, RigidTransform, rotation_about
from depthmaster_ros.navigation import Scan, merge_scans, scan_from_depth

CAMERA = CameraModel.pinhole(160, 120, 100.0)
LEVEL = camera_to_base_from_height_pitch_roll(0.5, 0.0)     # optical -> base, camera 0.5 m above the floor
DEFAULTS = Config.from_params({}).navigation


def settings(**changes):
    return dataclasses.replace(DEFAULTS, **changes)


def wall(distance, shape=(120, 160)):
    return np.full(shape, distance, np.float32)


def test_a_wall_facing_a_level_camera_gives_distance_over_cosine_in_every_beam():
    scan = scan_from_depth(wall(2.0), CAMERA, LEVEL, settings(scan_angle_increment=0.02))
    half_fov = math.atan(79.5 / 100.0)
    assert scan.angle_min == pytest.approx(-half_fov, abs=1e-6)
    assert scan.angle_max <= half_fov + 1e-9 and scan.angle_max > half_fov - scan.angle_increment
    assert scan.ranges.dtype == np.float32 and np.isfinite(scan.ranges).all()
    # a beam reports the nearest point within half an increment of its angle
    assert_wall_ranges(scan, 2.0, scan.angle_increment / 2)
    assert (scan.range_min, scan.range_max) == (DEFAULTS.scan_range_min, DEFAULTS.scan_range_max)


def test_beams_finer_than_the_pixels_take_the_points_of_the_column_they_lie_in():
    scan = scan_from_depth(wall(2.0), CAMERA, LEVEL)          # 0.005 rad beams, 0.01 rad columns
    assert np.isfinite(scan.ranges).all()
    assert_wall_ranges(scan, 2.0, 1.0 / CAMERA.fx)


def assert_wall_ranges(scan, distance, tolerance_rad):
    """Ranges of a wall `distance` ahead: those of bearings within tolerance_rad of each beam."""
    bearing = np.abs(scan.angles())
    nearest = distance / np.cos(np.maximum(bearing - tolerance_rad, 0))
    farthest = distance / np.cos(bearing + tolerance_rad)
    assert np.all(scan.ranges >= nearest - 1e-5) and np.all(scan.ranges <= farthest + 1e-5)


def test_settings_none_means_the_parameter_tables_defaults():
    with_none = scan_from_depth(wall(2.0), CAMERA, LEVEL)
    explicit = scan_from_depth(wall(2.0), CAMERA, LEVEL, DEFAULTS)
    np.testing.assert_array_equal(with_none.ranges, explicit.ranges)


def test_valid_pixels_outside_the_height_band_or_range_make_inf_and_no_valid_pixel_makes_nan():
    depth = wall(2.0)
    rows = np.arange(120)[:, None]
    # heights on the wall: 0.5 - y = 0.5 - (v - 59.5) / 100 * 2; keep only rows above 1.2 m (v < 24.5)
    depth[(rows >= 24) & np.ones((1, 160), bool)] = np.nan
    depth[:, :80] = np.nan                        # the left half of the image sees nothing
    scan = scan_from_depth(depth, CAMERA, LEVEL, settings(scan_max_height=1.2))
    left = scan.angles() > 0.02                    # y left: the left image half is positive bearings
    right = scan.angles() < -0.02
    assert np.isnan(scan.ranges[left]).all()
    assert np.isposinf(scan.ranges[right]).all()
    far = scan_from_depth(wall(9.0), CAMERA, LEVEL, settings(scan_range_max=8.0))
    assert np.isposinf(far.ranges).all()
    near = scan_from_depth(wall(0.05), CAMERA, LEVEL, settings(scan_range_min=0.1))
    assert np.isposinf(near.ranges[np.abs(near.angles()) < 0.5]).all()


def test_floor_is_below_the_band_and_an_obstacle_on_it_is_seen_with_a_pitched_camera():
    pitched = camera_to_base_from_height_pitch_roll(0.8, 0.3)
    from depthmaster_ros.alignment import ground_plane_depth
    depth = ground_plane_depth(CAMERA, pitched, 160, 120, 30.0)
    free = scan_from_depth(depth, CAMERA, pitched)
    seen = ~np.isnan(free.ranges)
    assert seen.sum() >= len(free.ranges) - 1 and np.isposinf(free.ranges[seen]).all()
    # a box face 1.5 m ahead (base x = 1.5), 0.3 m tall, across the middle columns
    rays = CAMERA.pixel_rays()
    directions = np.concatenate([rays, np.ones(rays.shape[:2] + (1,))], axis=-1) @ pitched.rotation.T
    to_face = (1.5 - pitched.translation[0]) / directions[..., 0]
    height = pitched.translation[2] + to_face * directions[..., 2]
    on_face = (height <= 0.3) & (height >= 0) & (np.abs(np.arange(160) - 80) < 20)[None, :]
    depth = np.where(on_face & (to_face < depth), to_face, depth).astype(np.float32)
    scan = scan_from_depth(depth, CAMERA, pitched)
    ahead = np.abs(scan.angles()) < 0.15
    np.testing.assert_allclose(scan.ranges[ahead], 1.5 / np.cos(scan.angles()[ahead]), atol=0.01)


def test_explicit_angles_leave_unseen_beams_nan_and_a_rear_camera_wraps_through_pi():
    full_circle = settings(scan_angle_min=-math.pi, scan_angle_max=math.pi)
    scan = scan_from_depth(wall(2.0), CAMERA, LEVEL, full_circle)
    behind = np.abs(scan.angles()) > 1.0
    assert np.isnan(scan.ranges[behind]).all() and np.isfinite(scan.ranges[np.abs(scan.angles()) < 0.6]).all()
    rear = RigidTransform(rotation_about('z', math.pi), np.zeros(3)) @ LEVEL
    back = scan_from_depth(wall(2.0), CAMERA, rear)
    assert back.angle_min == pytest.approx(math.pi - math.atan(0.795), abs=1e-6)
    assert np.isfinite(back.ranges).all() and np.nanmax(back.ranges) < 2.0 / math.cos(0.68)
    wrapped = scan_from_depth(wall(2.0), CAMERA, rear, full_circle)
    assert np.isfinite(wrapped.ranges[behind]).sum() > 100 and np.isnan(wrapped.ranges[np.abs(wrapped.angles()) < 2.4]).all()


def test_confidence_below_the_gate_counts_as_unseen():
    confidence = np.ones((120, 160), np.float32)
    confidence[:, 80:] = 0.05                    # right half untrusted
    scan = scan_from_depth(wall(2.0), CAMERA, LEVEL, settings(obstacle_min_confidence=0.1), confidence)
    assert np.isnan(scan.ranges[scan.angles() < -0.02]).all()
    assert np.isfinite(scan.ranges[scan.angles() > 0.02]).all()


def test_merged_scans_take_the_nearest_range_then_inf_then_nan():
    nan, inf = np.nan, np.inf
    a = Scan(-1.0, 1.0, 0.5, 0.1, 8.0, np.array([1.0, inf, nan, 3.0, nan], np.float32))
    b = Scan(-1.0, 1.0, 0.5, 0.1, 8.0, np.array([2.0, 2.5, inf, inf, nan], np.float32))
    merged = merge_scans([a, b])
    np.testing.assert_array_equal(merged.ranges, np.array([1.0, 2.5, inf, 3.0, nan], np.float32))
    with pytest.raises(ValueError, match='share their beams'):
        merge_scans([a, Scan(-0.5, 1.0, 0.5, 0.1, 8.0, a.ranges[1:])])


@pytest.mark.parametrize('params, fragment', [
    ({'scan_min_height': 2.0}, 'scan_min_height .* must be below scan_max_height'),
    ({'obstacle_min_height': 1.5}, 'obstacle_min_height .* must be below obstacle_max_height'),
    ({'scan_angle_min': 1.0, 'scan_angle_max': 0.5}, 'must not be above scan_angle_max'),
])
def test_inverted_bands_are_refused(params, fragment):
    with pytest.raises(ValueError, match=fragment):
        Config.from_params(params)
