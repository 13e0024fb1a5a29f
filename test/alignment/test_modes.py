"""The alignment-mode registry: names in one place, what each mode needs, and what it produces."""
import numpy as np
import pytest

from depthmaster_ros.alignment import modes
from depthmaster_ros.alignment.modes import (
    AlignmentMode,
    FixedFit,
    NoSamples,
    SampleRequest,
    SparseSamples,
    get_mode,
    mode_names,
)
from depthmaster_ros.config import BY_NAME, Config
from depthmaster_ros.geometry import CameraModel, StampedCloud


def camera(width=64, height=48):
    return CameraModel.pinhole(width, height, 50.0)


def request(mode, **overrides):
    settings = Config.from_params({'alignment_mode': mode, **overrides.pop('params', {})}).alignment
    values = dict(stamp_ns=1, frame_id='camera_optical', camera=camera(), cloud=None, cloud_miss_reason='',
                  transforms=None, settings=settings)
    values.update(overrides)
    return SampleRequest(**values)


def test_the_parameter_choices_are_the_registered_modes():
    assert BY_NAME['alignment_mode'].choices == mode_names() == ('lidar', 'ground_plane', 'fixed', 'none')
    assert BY_NAME['alignment_mode'].default in mode_names()


def test_each_mode_declares_what_it_needs():
    needs = {name: (get_mode(name).needs_cloud, get_mode(name).needs_camera, get_mode(name).metric)
             for name in mode_names()}
    assert needs == {'lidar': (True, True, True), 'ground_plane': (False, True, True),
                     'fixed': (False, True, True), 'none': (False, False, False)}


def test_unknown_mode_names_the_choices():
    with pytest.raises(ValueError, match='alignment_mode: expected one of lidar, ground_plane, fixed, none'):
        get_mode('sonar')


def test_fixed_mode_gives_the_parameters_scale_and_shift():
    outcome = get_mode('fixed').samples(request('fixed', params={'fixed_scale': 2.0, 'fixed_shift': -0.5}))
    assert outcome == FixedFit(2.0, -0.5)


def test_none_mode_gives_no_samples_with_its_reason():
    outcome = get_mode('none').samples(request('none'))
    assert isinstance(outcome, NoSamples) and 'relative depth only' in outcome.reason


@pytest.mark.parametrize('name', ['lidar', 'ground_plane'])
def test_modes_without_camera_say_so(name):
    outcome = get_mode(name).samples(request(name, camera=None))
    assert outcome == NoSamples('no camera info')


def test_lidar_mode_carries_the_adapters_miss_reason_and_refuses_without_transform():
    assert get_mode('lidar').samples(request('lidar', cloud_miss_reason='cloud too old')) == NoSamples('cloud too old')
    cloud = StampedCloud(np.array([[0.0, 0.0, 5.0]], np.float32), 'lidar', 1)
    outcome = get_mode('lidar').samples(request('lidar', cloud=cloud))
    assert isinstance(outcome, NoSamples) and "no transform from 'lidar'" in outcome.reason


def test_lidar_mode_projects_the_cloud_with_the_fallback_transform():
    points = np.array([[0.0, 0.0, 4.0], [0.5, 0.2, 6.0]], np.float32)
    cloud = StampedCloud(points, 'lidar', 1)
    outcome = get_mode('lidar').samples(request(
        'lidar', cloud=cloud, params={'lidar_to_camera': [0, 0, 0, 0, 0, 0, 1], 'lidar_frame': 'lidar',
                                    'occlusion_window_px': 0}))
    assert isinstance(outcome, SparseSamples)
    assert outcome.depth.shape == (48, 64)
    assert sorted(outcome.depth[np.isfinite(outcome.depth)].tolist()) == pytest.approx([4.0, 6.0])
    # the projection's return pixels travel along, so the fit and the confidence need not scan for them
    np.testing.assert_array_equal(outcome.pixels, np.flatnonzero(np.isfinite(outcome.depth)))


def test_ground_plane_mode_sees_the_floor_below_the_horizon():
    outcome = get_mode('ground_plane').samples(request(
        'ground_plane', params={'camera_height_m': 1.0, 'camera_pitch_rad': 0.2}))
    assert isinstance(outcome, SparseSamples)
    rows = np.isfinite(outcome.depth).any(axis=1)
    assert rows[-1] and not rows[0]                      # floor at the bottom of the image, sky at the top


def test_a_new_mode_is_one_registered_class():
    class Constant(AlignmentMode):
        def samples(self, request):
            return SparseSamples(np.full((request.camera.height, request.camera.width), 3.0, np.float32))

    try:
        modes.register('constant_test_mode', 'every pixel at 3 m', needs_cloud=True)(Constant)
        assert 'constant_test_mode' in mode_names() and get_mode('constant_test_mode').needs_cloud
        assert get_mode('constant_test_mode').samples(request('lidar')).depth.mean() == 3.0
        with pytest.raises(ValueError, match='registered twice'):
            modes.register('constant_test_mode', 'again')(Constant)
        with pytest.raises(ValueError, match='unknown declaration.*needs_sonar'):
            modes.register('other_test_mode', 'typo', needs_sonar=True)
    finally:
        modes._MODES.pop('constant_test_mode', None)
