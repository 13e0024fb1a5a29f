"""The synthetic scene: determinism, exact geometry, LiDAR model, fake predictions."""
import numpy as np
import pytest

from depthmaster_ros.alignment import Space, least_squares_scale_shift, to_space
from depthmaster_ros.synthetic import SyntheticScene, fake_prediction, ray_cast


def test_frame_contents(scene_frame):
    frame = scene_frame
    assert frame.rgb.shape == (480, 640, 3) and frame.rgb.dtype == np.uint8
    assert frame.depth.shape == (480, 640) and frame.depth.dtype == np.float32
    assert np.isfinite(frame.depth).all() and frame.depth.min() > 0.5      # closed room
    assert frame.rgb.std() > 20                                             # textured, not flat
    assert frame.lidar_points.dtype == np.float32 and frame.lidar_points.shape[1] == 3
    assert len(frame.lidar_points) == 32 * 900
    assert frame.stamp_ns == 0 and frame.camera.width == 640


def test_rendering_is_deterministic_and_moves_with_time(scene):
    a, b = scene.render(2.0), scene.render(2.0)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.lidar_points, b.lidar_points)
    later = scene.render(4.0)
    assert later.world_from_base.translation[0] > a.world_from_base.translation[0]
    assert not np.array_equal(later.depth, a.depth)
    assert later.stamp_ns == 4_000_000_000


def test_depth_is_the_distance_to_what_the_pixel_sees(scene_frame):
    # walk the ray through one pixel of a box and of the floor and compare the hit with depth * ray
    world_from_camera = scene_frame.world_from_base @ scene_frame.camera_to_base
    for v, u in ((250, 200), (460, 320)):
        x, y = scene_frame.camera.pixel_rays()[v, u]
        point_cam = np.array([[x, y, 1.0]]) * scene_frame.depth[v, u]
        point_world = world_from_camera.apply(point_cam)[0]
        direction = world_from_camera.rotation @ [x, y, 1.0]
        t, *_ = ray_cast(world_from_camera.translation, direction[None])
        np.testing.assert_allclose(point_world, world_from_camera.translation + t[0] * direction, atol=1e-4)
    floor_point = world_from_camera.apply(np.array([[*scene_frame.camera.pixel_rays()[460, 320], 1.0]])
                                          * scene_frame.depth[460, 320])
    assert floor_point[0, 2] == pytest.approx(0.0, abs=1e-4)


def test_lidar_points_match_the_camera_depth_where_both_see_the_same_surface(scene_frame):
    points = scene_frame.lidar_points_in_camera()
    uv, valid = scene_frame.camera.project(points)
    cols = np.floor(uv[valid, 0] + 0.5).astype(int)
    rows = np.floor(uv[valid, 1] + 0.5).astype(int)
    relative = np.abs(points[valid, 2] - scene_frame.depth[rows, cols]) / scene_frame.depth[rows, cols]
    assert valid.sum() > 3000
    assert np.median(relative) < 0.01                    # pixel quantisation only
    assert np.mean(relative > 0.1) > 0.005               # and some points see behind foreground


def test_lidar_frame_is_above_and_behind_the_camera(scene):
    lidar_origin_in_base = scene.lidar_to_base.translation
    camera_origin_in_base = scene.camera_to_base.translation
    np.testing.assert_allclose(lidar_origin_in_base - camera_origin_in_base, [-0.2, 0.03, 0.3])
    in_camera = scene.lidar_to_camera.apply([[0.0, 0.0, 0.0]])[0]
    assert in_camera[1] < -0.2 and in_camera[2] < 0          # optical: y down, z forward


def test_lidar_noise_and_outliers():
    clean = SyntheticScene(lidar_range_noise=0.0).render(1.0).lidar_points
    noisy = SyntheticScene(lidar_range_noise=0.02, lidar_outlier_fraction=0.2).render(1.0).lidar_points
    ratio = np.linalg.norm(noisy, axis=1) / np.linalg.norm(clean, axis=1)
    gross = np.abs(ratio - 1) > 0.1
    assert 0.12 < gross.mean() < 0.22
    assert 0.015 < np.std(ratio[~gross] - 1) < 0.025


@pytest.mark.parametrize('space', list(Space))
def test_fake_prediction_is_affine_in_the_space_without_distortion(scene_frame, space):
    rng = np.random.default_rng(0)
    pred = fake_prediction(scene_frame.depth, space, rng, scale=0.7, shift=0.2, distortion_amp=0.0, noise=0.0)
    values = to_space(scene_frame.depth, space).ravel()
    scale, shift = least_squares_scale_shift(pred.ravel().astype(np.float64), values)
    assert scale == pytest.approx(1 / 0.7, rel=1e-5) and shift == pytest.approx(-0.2 / 0.7, rel=1e-4)
    distorted = fake_prediction(scene_frame.depth, space, rng, distortion_amp=0.05, noise=0.01)
    assert not np.allclose(distorted, 0.8 * to_space(scene_frame.depth, space) + 0.1, rtol=1e-3)


def test_frames_follow_rate_and_duration(scene):
    small = SyntheticScene(width=64, height=48, lidar_beams=16, lidar_azimuth_step_deg=2.0, start_stamp_ns=10**18)
    frames = list(small.frames(rate_hz=5.0, duration_s=1.0))
    assert [f.stamp_ns - 10**18 for f in frames] == [0, 200_000_000, 400_000_000, 600_000_000, 800_000_000]
    assert frames[0].camera.K[0, 0] == pytest.approx(50.0)
    assert len(frames[0].lidar_points) == 16 * 180


def test_open_ceiling_and_distortion_options():
    frame = SyntheticScene(width=160, height=120, ceiling=False, distortion=True, camera_pitch_rad=-0.6).render(0.0)
    assert frame.camera.has_distortion
    assert np.isnan(frame.depth[0]).any()                 # sky through the open top
    assert np.isfinite(frame.depth[-1]).all()
    with pytest.raises(ValueError, match='lidar_beams'):
        SyntheticScene(lidar_beams=8)
