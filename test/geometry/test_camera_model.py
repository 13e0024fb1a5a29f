"""CameraModel: CameraInfo parsing, projection with distortion, rays, resizing."""
from types import SimpleNamespace

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo

from depthmaster_ros.geometry import CameraModel

DISTORTED = {
    'plumb_bob': [-0.12, 0.05, 0.001, -0.0015, -0.01],
    'rational_polynomial': [-0.1, 0.04, 0.001, 0.0005, 0.002, 0.01, -0.005, 0.001],
    'equidistant': [0.05, -0.01, 0.002, -0.0005],
}


def camera_info(model='plumb_bob', d=None, width=640, height=480):
    msg = CameraInfo()
    msg.width, msg.height = width, height
    msg.distortion_model = model
    msg.d = DISTORTED[model] if d is None else d
    msg.k = [520.0, 0.0, 321.3, 0.0, 515.0, 238.7, 0.0, 0.0, 1.0]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [520.0, 0.0, 321.3, 0.0, 0.0, 515.0, 238.7, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def test_from_real_camera_info_message_reads_every_field():
    camera = CameraModel.from_camera_info(camera_info())
    assert (camera.width, camera.height) == (640, 480)
    assert camera.K[0, 0] == 520.0 and camera.K[1, 2] == 238.7
    assert camera.distortion_model == 'plumb_bob' and camera.D.tolist() == DISTORTED['plumb_bob']
    assert camera.P.shape == (3, 4) and camera.R.shape == (3, 3)
    with pytest.raises(ValueError):
        camera.K[0, 0] = 1.0        # read-only


def test_from_duck_typed_object_with_numpy_arrays_and_no_distortion():
    msg = SimpleNamespace(width=320, height=240, k=np.array([300.0, 0, 160, 0, 300, 120, 0, 0, 1]),
                          d=np.zeros(5), distortion_model='plumb_bob', p=np.zeros(12), r=np.zeros(9))
    camera = CameraModel.from_camera_info(msg)
    assert camera.distortion_model == '' and not camera.has_distortion
    np.testing.assert_array_equal(camera.P[:, :3], camera.K)     # empty P falls back to K
    np.testing.assert_array_equal(camera.R, np.eye(3))


@pytest.mark.parametrize('change, field', [
    (dict(k=[0.0] * 9), 'k'),
    (dict(k=[np.nan, 0, 320, 0, 500, 240, 0, 0, 1]), 'k'),
    (dict(k=[500.0, 0, 320]), 'k'),
    (dict(width=0), 'width'),
    (dict(distortion_model='weird_model', d=[0.1, 0, 0, 0, 0]), 'distortion_model'),
    (dict(d=[0.1, 0.2, 0.0]), 'd'),
    (dict(d=[np.inf, 0, 0, 0, 0]), 'd'),
])
def test_bad_camera_info_names_the_field(change, field):
    fields = dict(width=640, height=480, k=[500.0, 0, 320, 0, 500, 240, 0, 0, 1], d=[0.0] * 5,
                  distortion_model='plumb_bob', p=[0.0] * 12, r=[0.0] * 9)
    fields.update(change)
    with pytest.raises(ValueError, match=field):
        CameraModel.from_camera_info(SimpleNamespace(**fields))


def test_unknown_model_with_zero_coefficients_is_plain_pinhole():
    msg = camera_info('plumb_bob', d=[0.0] * 5)
    msg.distortion_model = 'weird_model'
    assert CameraModel.from_camera_info(msg).distortion_model == ''


def test_pinhole_projection_matches_the_intrinsics():
    camera = CameraModel.from_camera_info(camera_info(d=[0.0] * 5))
    points = np.array([[0.1, -0.2, 2.0], [0.0, 0.0, 1.0], [0.3, 0.1, -1.0], [5.0, 0.0, 1.0]])
    uv, valid = camera.project(points)
    np.testing.assert_allclose(uv[0], [520.0 * 0.05 + 321.3, 515.0 * -0.1 + 238.7])
    np.testing.assert_allclose(uv[1], [321.3, 238.7])
    assert valid.tolist() == [True, True, False, False]     # behind the camera, outside the image
    assert np.all(np.isnan(uv[2:]))


@pytest.mark.parametrize('model', sorted(DISTORTED))
def test_rays_and_projection_are_inverse_with_distortion(model):
    camera = CameraModel.from_camera_info(camera_info(model))
    rays = camera.pixel_rays(stride=7)
    depth = np.random.default_rng(0).uniform(0.5, 20.0, rays.shape[:2])
    points = np.concatenate([rays * depth[..., None], depth[..., None]], axis=-1).reshape(-1, 3)
    uv, valid = camera.project(points)
    vs, us = np.mgrid[0:camera.height:7, 0:camera.width:7]
    assert valid.all()
    np.testing.assert_allclose(uv, np.stack([us.ravel(), vs.ravel()], 1), atol=1e-3)
    # and the distortion is really applied: the pinhole formula lands elsewhere at the corners
    pinhole = camera.K[0, 0] * rays[0, 0, 0] + camera.K[0, 2]
    assert abs(pinhole - 0.0) > 1.0


def test_far_off_axis_points_do_not_fold_back_into_the_image():
    camera = CameraModel.from_camera_info(camera_info('plumb_bob', d=[-0.4, 0.0, 0.0, 0.0, 0.0]))
    # at x/z = 3 the polynomial has turned over and would map the point near the image centre
    uv, valid = camera.project(np.array([[3.0, 0.0, 1.0], [0.1, 0.0, 1.0]]))
    assert valid.tolist() == [False, True]


def test_scaled_uses_pixel_centre_convention():
    camera = CameraModel.from_camera_info(camera_info())
    half = camera.scaled(320, 240)
    assert half.K[0, 0] == pytest.approx(260.0)
    assert half.K[0, 2] == pytest.approx((321.3 + 0.5) * 0.5 - 0.5)
    assert half.P[1, 2] == pytest.approx((238.7 + 0.5) * 0.5 - 0.5)
    points = np.array([[0.2, 0.1, 3.0], [-0.5, 0.3, 2.0]])
    full_uv, _ = camera.project(points)
    half_uv, _ = half.project(points)
    np.testing.assert_allclose(half_uv, (full_uv + 0.5) * 0.5 - 0.5, atol=1e-9)
    assert camera.scaled(640, 480) is camera


def test_scaled_rejects_a_different_aspect_ratio():
    camera = CameraModel.from_camera_info(camera_info())
    with pytest.raises(ValueError, match='aspect'):
        camera.scaled(640, 360)


def test_camera_info_fields_round_trip():
    camera = CameraModel.from_camera_info(camera_info('rational_polynomial')).scaled(320, 240)
    fields = camera.to_camera_info_fields()
    assert fields['binning_x'] == 0 and fields['roi']['width'] == 0
    again = CameraModel.from_camera_info(SimpleNamespace(**fields))
    assert again.cache_key() == camera.cache_key()
    np.testing.assert_array_equal(again.P, camera.P)


def test_pixel_rays_are_cached_and_read_only():
    camera = CameraModel.from_camera_info(camera_info())
    rays = camera.pixel_rays(2)
    assert rays.shape == (240, 320, 2)
    assert camera.pixel_rays(2) is rays
    assert CameraModel.from_camera_info(camera_info()).pixel_rays(2) is rays   # same intrinsics, same cache
    assert not rays.flags.writeable
    with pytest.raises(ValueError, match='stride'):
        camera.pixel_rays(0)


@pytest.mark.parametrize('model', [None, *DISTORTED])
def test_normalised_bounds_hold_every_pixel_ray(model):
    """The box that the LiDAR cull trusts: no pixel's ray may fall outside it."""
    info = camera_info('plumb_bob', d=[0.0] * 5) if model is None else camera_info(model)
    camera = CameraModel.from_camera_info(info).scaled(160, 120)
    low, high = camera.normalised_bounds()
    rays = camera.pixel_rays().reshape(-1, 2)
    assert np.all(rays >= low) and np.all(rays <= high)
    assert camera.normalised_bounds() is camera.normalised_bounds()      # cached per camera


@pytest.mark.parametrize('model', [None, *DISTORTED])
def test_project_columns_is_project_for_valid_points(model):
    info = camera_info('plumb_bob', d=[0.0] * 5) if model is None else camera_info(model)
    camera = CameraModel.from_camera_info(info)
    rng = np.random.default_rng(9)
    points = np.column_stack([rng.uniform(-6, 6, 500), rng.uniform(-5, 5, 500), rng.uniform(-2, 8, 500)])
    points[:5] = [[np.nan, 0, 1], [0, np.inf, 1], [0, 0, np.inf], [0, 0, 0], [0, 0, -1]]
    uv, valid = camera.project(points)
    index, u, v = camera.project_columns(*np.ascontiguousarray(points.T))
    np.testing.assert_array_equal(index, np.flatnonzero(valid))
    np.testing.assert_array_equal(np.column_stack([u, v]), uv[valid])
    assert 50 < valid.sum() < 450 and not valid[:5].any()


def test_pixel_ray_planes_are_the_rays_contiguous_cached_and_read_only():
    camera = CameraModel.from_camera_info(camera_info('plumb_bob')).scaled(160, 120)
    ray_x, ray_y = camera.pixel_ray_planes(3)
    rays = camera.pixel_rays(3)
    np.testing.assert_array_equal(ray_x, rays[..., 0])
    np.testing.assert_array_equal(ray_y, rays[..., 1])
    assert ray_x.flags.c_contiguous and not ray_x.flags.writeable and not ray_y.flags.writeable
    assert camera.pixel_ray_planes(3)[0] is ray_x
