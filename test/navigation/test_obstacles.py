"""obstacle_cloud against hand-built depth images: flying pixels, range, height band, voxels, frames."""
import dataclasses

import numpy as np
import pytest

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import CameraModel, RigidTransform
from depthmaster_ros.navigation import flying_pixels, nearest_per_voxel, obstacle_cloud

CAMERA = CameraModel.pinhole(160, 120, 100.0)
LEVEL = camera_to_base_from_height_pitch_roll(0.5, 0.0)
DEFAULTS = Config.from_params({}).navigation


def settings(**changes):
    return dataclasses.replace(DEFAULTS, **changes)


def foreground_on_background(ramp=True):
    """A 1 m box face on a 3 m wall, with the resize blur's in-between depths on its border columns."""
    depth = np.full((120, 160), 3.0, np.float32)
    depth[30:90, 60:100] = 1.0
    if ramp:
        depth[30:90, 58], depth[30:90, 59] = 2.3, 1.6
        depth[30:90, 100], depth[30:90, 101] = 1.7, 2.4
    return depth


def test_flying_pixels_between_a_foreground_and_its_background_are_removed():
    points = obstacle_cloud(foreground_on_background(), CAMERA, LEVEL, settings(obstacle_voxel_m=0.0))
    depth_along = points[:, 0]                      # base x = optical z for a level camera
    near_a_surface = np.minimum(np.abs(depth_along - 1.0), np.abs(depth_along - 3.0)) < 1e-4
    assert near_a_surface.all() and len(points) > 1000
    unfiltered = obstacle_cloud(foreground_on_background(), CAMERA, LEVEL,
                                settings(obstacle_voxel_m=0.0, obstacle_edge_threshold=0.0))
    assert not (np.minimum(np.abs(unfiltered[:, 0] - 1.0), np.abs(unfiltered[:, 0] - 3.0)) < 1e-4).all()


def test_flying_pixel_mask_marks_the_far_side_of_a_jump_and_nothing_on_a_smooth_surface():
    depth = np.full((4, 6), 2.0, np.float32)
    depth[:, 3:] = 2.5                            # a 25 % jump between columns 2 and 3
    mask = flying_pixels(depth, 0.05)
    assert mask[:, 3].all() and not mask[:, :3].any() and not mask[:, 4:].any()
    pole = np.full((5, 9), 4.0, np.float32)
    pole[:, 4] = 1.0                              # a one-pixel-wide pole in front of a wall
    mask = flying_pixels(pole, 0.05)
    assert not mask[:, 4].any() and mask[:, 3].all() and mask[:, 5].all()
    slope = np.linspace(2.0, 2.2, 24, dtype=np.float32).reshape(4, 6)       # under 1 % per pixel
    assert not flying_pixels(slope, 0.05).any()
    depth[0, 0] = np.nan                            # an invalid neighbour makes nobody flying
    assert not flying_pixels(depth, 0.05)[:, :2].any()


def test_range_clip_and_height_band_in_the_scan_frame():
    depth = np.full((120, 160), 2.0, np.float32)
    depth[:, 80:] = 6.0                           # right half farther than obstacle_max_range = 5
    band = settings(obstacle_voxel_m=0.0, obstacle_min_height=0.3, obstacle_max_height=0.7, obstacle_edge_threshold=0.0)
    points = obstacle_cloud(depth, CAMERA, LEVEL, band)
    assert np.all(points[:, 2] >= 0.3) and np.all(points[:, 2] <= 0.7)
    assert np.all(np.linalg.norm(points - LEVEL.translation, axis=1) <= 5.0)
    assert np.allclose(points[:, 0], 2.0) and np.all(points[:, 1] > 0)   # only the left half, x = 2 m ahead


def test_the_cloud_stays_in_the_optical_frame_while_heights_come_from_the_scan_frame():
    band = settings(obstacle_voxel_m=0.0, obstacle_min_height=0.3, obstacle_max_height=0.7)
    in_base = obstacle_cloud(np.full((120, 160), 2.0, np.float32), CAMERA, LEVEL, band)
    in_optical = obstacle_cloud(np.full((120, 160), 2.0, np.float32), CAMERA, RigidTransform.identity(), band,
                                camera_to_height_frame=LEVEL)
    np.testing.assert_allclose(LEVEL.apply(in_optical), in_base, atol=1e-5)
    assert np.allclose(in_optical[:, 2], 2.0)


def test_each_voxel_keeps_its_point_nearest_to_the_camera():
    columns = tuple(np.array(values, np.float32) for values in
                    ([0.01, 0.02, 0.03, 0.21, 0.22], [0.0, 0.0, 0.0, 0.0, 0.0], [1.01, 1.02, 1.03, 1.0, 1.0]))
    distance = np.array([1.03, 1.01, 1.02, 1.2, 1.1], np.float32)
    kept = sorted(nearest_per_voxel(columns, distance, 0.1).tolist())
    assert kept == [1, 4]
    cloud = obstacle_cloud(np.full((120, 160), 2.0, np.float32), CAMERA, LEVEL)
    cells = np.floor(cloud / DEFAULTS.obstacle_voxel_m).astype(int)
    assert len(np.unique(cells, axis=0)) == len(cloud)       # one point per voxel
    assert cloud.dtype == np.float32 and cloud.shape[1] == 3


def test_nan_depth_and_low_confidence_give_no_points():
    assert obstacle_cloud(np.full((120, 160), np.nan, np.float32), CAMERA, LEVEL).shape == (0, 3)
    confidence = np.zeros((120, 160), np.float32)
    gated = settings(obstacle_min_confidence=0.1)
    assert obstacle_cloud(np.full((120, 160), 2.0, np.float32), CAMERA, LEVEL, gated, confidence).shape == (0, 3)
    assert len(obstacle_cloud(np.full((120, 160), 2.0, np.float32), CAMERA, LEVEL, confidence=confidence))


@pytest.mark.parametrize('stride', [(1, 1), (2, 3), (3, 2), (5, 5)])
def test_the_sampled_flying_mask_is_the_full_resolution_mask_sampled(stride):
    depth = np.random.default_rng(1).choice(np.array([1.0, 1.02, 2.0, np.nan], np.float32), (23, 31))
    full = flying_pixels(depth, 0.05)
    np.testing.assert_array_equal(flying_pixels(depth, 0.05, stride), full[::stride[0], ::stride[1]])
