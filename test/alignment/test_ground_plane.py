"""Floor-plane depth from the camera pose."""
import numpy as np
import pytest

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll, ground_plane_depth
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.synthetic import FLOOR, ray_cast

CAMERA = CameraModel.pinhole(160, 120, 125.0)


def test_pose_parameters_follow_rep_103():
    camera_to_base = camera_to_base_from_height_pitch_roll(1.2, 0.3, 0.0)
    np.testing.assert_allclose(camera_to_base.translation, [0.0, 0.0, 1.2])
    optical_axis = camera_to_base.rotation @ [0.0, 0.0, 1.0]
    np.testing.assert_allclose(optical_axis, [np.cos(0.3), 0.0, -np.sin(0.3)], atol=1e-12)   # forward and down
    image_right = camera_to_base.rotation @ [1.0, 0.0, 0.0]
    np.testing.assert_allclose(image_right, [0.0, -1.0, 0.0], atol=1e-12)


def test_principal_ray_hits_the_floor_at_height_over_sine_pitch():
    depth = ground_plane_depth(CAMERA, camera_to_base_from_height_pitch_roll(1.0, 0.25), 160, 120)
    assert depth.dtype == np.float32
    # pixel (79.5, 59.5) is the principal point: average the four pixels around it
    assert depth[59:61, 79:81].mean() == pytest.approx(1.0 / np.sin(0.25), rel=1e-2)
    assert np.all(np.isnan(depth[0])) and np.all(np.isfinite(depth[-1]))   # horizon in the image
    assert np.all(np.diff(depth[60:, 80]) < 0)                               # nearer towards the bottom


def test_roll_brings_the_floor_nearer_on_the_lowered_side():
    depth = ground_plane_depth(CAMERA, camera_to_base_from_height_pitch_roll(1.0, 0.3, 0.1), 160, 120)
    assert depth[100, 150] < depth[100, 10]          # positive roll lowers the right side


def test_camera_looking_up_sees_no_floor():
    depth = ground_plane_depth(CAMERA, camera_to_base_from_height_pitch_roll(1.0, -0.8), 160, 120)
    assert np.all(np.isnan(depth))


def test_max_depth_cuts_the_far_floor():
    pose = camera_to_base_from_height_pitch_roll(1.0, 0.1)
    near = ground_plane_depth(CAMERA, pose, 160, 120, max_depth=5.0)
    far = ground_plane_depth(CAMERA, pose, 160, 120, max_depth=50.0)
    assert np.nanmax(near) <= 5.0 and np.isfinite(near).sum() < np.isfinite(far).sum()


def test_matches_the_ray_cast_floor_of_the_scene(scene_frame):
    depth = ground_plane_depth(scene_frame.camera, scene_frame.camera_to_base, 640, 480, max_depth=50.0)
    world_from_camera = scene_frame.world_from_base @ scene_frame.camera_to_base
    rays = scene_frame.camera.pixel_rays()
    directions = np.concatenate([rays.reshape(-1, 2), np.ones((rays.shape[0] * rays.shape[1], 1))], 1)
    _, surface, _, _ = ray_cast(world_from_camera.translation, directions @ world_from_camera.rotation.T)
    floor = (surface == FLOOR).reshape(depth.shape)
    assert floor.sum() > 0.3 * depth.size
    np.testing.assert_allclose(depth[floor], scene_frame.depth[floor], rtol=1e-4)


def test_camera_below_the_floor_is_rejected():
    with pytest.raises(ValueError, match='height_m'):
        camera_to_base_from_height_pitch_roll(-0.5, 0.2)
