"""Depth image -> optical-frame points."""
import numpy as np
import pytest

from depthmaster_ros.geometry import CameraModel, depth_to_points, depth_to_points_with_colors

DISTORTED = CameraModel.pinhole(80, 60, 70.0, D=[-0.15, 0.04, 0.001, 0.0, 0.0], distortion_model='plumb_bob')


def test_points_project_back_to_their_pixels_with_distortion():
    depth = np.random.default_rng(0).uniform(0.5, 10.0, (60, 80)).astype(np.float32)
    points = depth_to_points(depth, DISTORTED, stride=1, organized=True)
    assert points.shape == (60, 80, 3) and points.dtype == np.float32
    np.testing.assert_allclose(points[..., 2], depth)
    uv, valid = DISTORTED.project(points.reshape(-1, 3))
    vs, us = np.mgrid[0:60, 0:80]
    assert valid.all()
    np.testing.assert_allclose(uv, np.stack([us.ravel(), vs.ravel()], 1), atol=2e-3)


def test_invalid_pixels_are_nan_or_dropped():
    depth = np.full((60, 80), 2.0, np.float32)
    depth[0, 0], depth[1, 1], depth[2, 2] = np.nan, 0.0, -1.0
    organised = depth_to_points(depth, DISTORTED)
    assert np.all(np.isnan(organised[[0, 1, 2], [0, 1, 2]]))
    assert np.isfinite(organised).all(axis=-1).sum() == 60 * 80 - 3
    flat = depth_to_points(depth, DISTORTED, organized=False)
    assert flat.shape == (60 * 80 - 3, 3) and np.isfinite(flat).all()


def test_stride_keeps_every_nth_pixel_and_matches_rgb_slicing():
    depth = np.random.default_rng(1).uniform(1.0, 5.0, (60, 80)).astype(np.float32)
    rgb = np.random.default_rng(2).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    full = depth_to_points(depth, DISTORTED)
    points, colors = depth_to_points_with_colors(depth, rgb, DISTORTED, stride=3)
    assert points.shape == (20, 27, 3) and colors.shape == (20, 27, 3)
    np.testing.assert_allclose(points, full[::3, ::3], rtol=1e-5)
    np.testing.assert_array_equal(colors, rgb[::3, ::3])


def test_smaller_depth_image_scales_the_camera():
    depth = np.full((30, 40), 4.0, np.float32)
    points = depth_to_points(depth, DISTORTED)
    uv, valid = DISTORTED.scaled(40, 30).project(points.reshape(-1, 3))
    assert valid.all()
    np.testing.assert_allclose(uv[0], [0.0, 0.0], atol=2e-3)


def test_scene_floor_points_lie_on_the_floor(scene_frame):
    points = depth_to_points(scene_frame.depth, scene_frame.camera, stride=4)
    bottom = points[-20:].reshape(-1, 3)            # the lowest 80 rows show only floor at t = 0
    in_base = scene_frame.camera_to_base.apply(bottom)
    assert np.abs(in_base[:, 2]).max() < 1e-3
    assert in_base[:, 0].min() > 1.0                # in front of the robot


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match='depth'):
        depth_to_points(np.zeros(5), DISTORTED)
    with pytest.raises(ValueError, match='stride'):
        depth_to_points(np.zeros((60, 80)), DISTORTED, stride=0)
    with pytest.raises(ValueError, match='rgb'):
        depth_to_points_with_colors(np.zeros((60, 80)), np.zeros((60, 80)), DISTORTED)
