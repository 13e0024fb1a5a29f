"""DepthPipeline, one frame end to end on CPU: the tiny random model for the model path, and an
estimator that returns the synthetic scene's exact relative depth where metres must come out right."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from depthmaster_ros.alignment import apply_alignment
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import RigidTransform, StampedCloud, TransformBuffer
from depthmaster_ros.model import DepthEstimator, processing_size
from depthmaster_ros.pipeline import (
    DepthPipeline,
    FaultCounters,
    FrameInput,
    RecentClouds,
    describe_miss,
    next_lower_resolution,
    select_cloud,
)
from depthmaster_ros.pipeline import frames as kinds

from fixtures_estimators import OutOfMemoryFirst, SceneTruthEstimator
from fixtures_pipeline import BASE_FRAME, CAMERA_FRAME, LIDAR_FRAME, frame_input
from fixtures_pipeline import pipeline_config as config


@pytest.fixture(scope='module')
def small_frame(small_scene):
    return small_scene.render(0.5)


def valid_fraction_close(depth, truth, rel_tol):
    both = np.isfinite(depth) & np.isfinite(truth)
    return np.mean(np.abs(depth[both] - truth[both]) <= rel_tol * truth[both]), both.mean()


# configuration ---------------------------------------------------------------------------------------
def test_config_from_params_uses_defaults_and_validates():
    cfg = Config.from_params({'alignment_mode': 'fixed', 'max_depth': 20})
    assert cfg.alignment.alignment_mode == 'fixed' and cfg.alignment.max_depth == 20.0
    assert cfg.model.processing_res == 768
    with pytest.raises(ValueError, match='alignment_mode'):
        Config.from_params({'alignment_mode': 'sonar'})
    with pytest.raises(ValueError, match='cloud_stride'):
        Config.from_params({'cloud_stride': 0})


def test_next_lower_resolution_walks_the_ladder():
    assert next_lower_resolution(768, 1000) == 640
    assert next_lower_resolution(640, 1000) == 512
    assert next_lower_resolution(0, 700) == 640
    assert next_lower_resolution(384, 1000) is None


# the tiny real model ---------------------------------------------------------------------------------
def test_fixed_mode_with_the_tiny_model(tiny_estimator, small_frame):
    pipeline = DepthPipeline(tiny_estimator, config(alignment_mode='fixed', fixed_scale=0.5, fixed_shift=0.2,
                                                    cloud_organized=True, cloud_stride=2))
    out = pipeline.process(frame_input(small_frame, with_cloud=False))
    direct = tiny_estimator.predict(small_frame.rgb, 64)
    np.testing.assert_allclose(out.relative, direct.relative, atol=1e-6)
    assert out.space == 'sqrt_disparity' and out.confidence is None
    expected = apply_alignment(direct.relative, 'sqrt_disparity', 0.5, 0.2, 0.1, 80.0)
    np.testing.assert_allclose(out.depth_m, expected, rtol=1e-5, equal_nan=True)
    assert out.record.ok and out.record.mode == 'fixed' and out.record.scale == 0.5
    assert out.depth_m.dtype == np.float32 and out.depth_m.shape == small_frame.rgb.shape[:2]
    # organised points back-project to the depth, colours line up with the strided image
    assert out.points.shape == (48, 64, 3)
    np.testing.assert_allclose(out.points[..., 2], out.depth_m[::2, ::2], equal_nan=True)
    rays = small_frame.camera.pixel_rays(2)
    np.testing.assert_allclose(out.points[..., 0], rays[..., 0] * out.depth_m[::2, ::2], rtol=1e-5, atol=1e-6,
                               equal_nan=True)
    np.testing.assert_array_equal(out.colors, small_frame.rgb[::2, ::2])
    assert {'inference', 'alignment', 'backprojection', 'total', 'model.unet'} <= set(out.timings)


def test_unorganised_cloud_keeps_only_valid_points(tiny_estimator, small_frame):
    pipeline = DepthPipeline(tiny_estimator, config(alignment_mode='fixed', fixed_scale=1.0, fixed_shift=0.3,
                                                    cloud_organized=False, cloud_stride=3))
    out = pipeline.process(frame_input(small_frame, with_cloud=False))
    strided = out.depth_m[::3, ::3]
    assert out.points.shape == (int(np.isfinite(strided).sum()), 3)
    assert np.all(np.isfinite(out.points)) and out.colors.shape == out.points.shape


def test_none_mode_gives_relative_only(tiny_estimator, small_frame):
    out = DepthPipeline(tiny_estimator, config(alignment_mode='none')).process(frame_input(small_frame))
    assert out.depth_m is None and out.points is None
    assert out.record.mode == 'none' and not out.record.ok and 'relative depth only' in out.record.reason
    assert out.relative.shape == small_frame.rgb.shape[:2]


def test_processing_output_resolution_scales_maps_and_camera(tiny_estimator, small_frame):
    pipeline = DepthPipeline(tiny_estimator, config(alignment_mode='fixed', output_resolution='processing',
                                                    processing_res=64))
    out = pipeline.process(frame_input(small_frame, with_cloud=False))
    width, height = processing_size(128, 96, 64)
    assert out.relative.shape == (height, width) == out.depth_m.shape
    assert (out.camera.width, out.camera.height) == (width, height)
    assert out.camera.fx == pytest.approx(small_frame.camera.fx * width / 128)


def test_cuda_out_of_memory_lowers_processing_res_and_retries(tiny_estimator, small_frame):
    estimator = OutOfMemoryFirst(tiny_estimator, failures=1)
    pipeline = DepthPipeline(estimator, config(alignment_mode='none', processing_res=512))
    out = pipeline.process(frame_input(small_frame))
    assert estimator.requested == [512, 384]
    assert [w.kind for w in out.warnings] == [kinds.CUDA_OOM]       # counted by the node under this kind
    assert 'out of memory' in out.warnings[0].text and 'retrying at 384' in out.warnings[0].text
    assert pipeline.processing_res == 384
    pipeline.process(frame_input(small_frame, stamp_ns=small_frame.stamp_ns + 2))
    assert estimator.requested[-1] == 384            # the lower resolution sticks
    pipeline.update_config(config(alignment_mode='none', processing_res=64))
    assert pipeline.processing_res == 64


def test_out_of_memory_at_the_bottom_of_the_ladder_is_raised(tiny_estimator, small_frame):
    pipeline = DepthPipeline(OutOfMemoryFirst(tiny_estimator, failures=5), config(processing_res=384))
    with pytest.raises(torch.cuda.OutOfMemoryError):
        pipeline.process(frame_input(small_frame))


def test_other_model_errors_are_not_swallowed(small_frame):
    class Broken(DepthEstimator):
        def _predict_same_size(self, frames, processing_res):
            raise RuntimeError('kernel failed')
    pipeline = DepthPipeline(Broken('x', torch.device('cpu'), torch.float32), config())
    with pytest.raises(RuntimeError, match='kernel failed'):
        pipeline.process(frame_input(small_frame))


@pytest.mark.parametrize('rgb, fragment', [
    (np.zeros((4, 4), np.uint8), 'rgb'),
    (np.zeros((4, 4, 3), np.float32), 'rgb'),
    (np.zeros((0, 4, 3), np.uint8), 'empty'),
    (np.zeros((100, 100, 3), np.uint8), 'max_pixels'),
])
def test_bad_images_raise_value_error_naming_the_field(tiny_estimator, rgb, fragment):
    pipeline = DepthPipeline(tiny_estimator, config(max_pixels=5000))
    with pytest.raises(ValueError, match=fragment):
        pipeline.process(FrameInput(rgb=rgb, stamp_ns=1, frame_id=CAMERA_FRAME))


def test_camera_of_another_size_is_refused(tiny_estimator, small_frame):
    pipeline = DepthPipeline(tiny_estimator, config())
    with pytest.raises(ValueError, match='camera'):
        pipeline.process(frame_input(small_frame, camera=small_frame.camera.scaled(64, 48)))


# alignment with the scene's exact relative depth --------------------------------------------------------
@pytest.fixture(scope='module')
def scene_frames(small_scene):
    return [small_scene.render(t) for t in (0.5, 0.6, 0.7)]


def test_lidar_mode_recovers_metres(scene_frames):
    frame = scene_frames[0]
    # the occlusion window is in pixels: 5 px spans this 128x96 image's scan-line gap as 15 px does at 640x480
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='lidar', occlusion_window_px=5))
    out = pipeline.process(frame_input(frame))
    assert out.record.ok, out.record.reason
    assert out.record.num_points >= 20 and out.record.num_inliers > 0.7 * out.record.num_points
    close, coverage = valid_fraction_close(out.depth_m, frame.depth, 1e-3)
    assert close > 0.999 and coverage > 0.9
    assert out.record.rmse_m < 0.1            # LiDAR samples land on rounded pixels; the fit itself is exact
    assert out.record.space == 'sqrt_disparity' and out.record.alignment_time_s > 0
    assert (out.record.backend, out.record.model) == ('depthmaster', 'zysong212/DepthMaster')


def test_lidar_fallback_transform_parameter_matches_tf(scene_frames):
    frame = scene_frames[0]
    t, q = frame.lidar_to_camera.to_translation_quaternion()
    with_tf = DepthPipeline(SceneTruthEstimator(scene_frames), config()).process(frame_input(frame))
    fallback = DepthPipeline(SceneTruthEstimator(scene_frames),
                             config(use_tf=True, lidar_to_camera=list(t) + list(q), lidar_frame=LIDAR_FRAME))
    out = fallback.process(frame_input(frame, transforms=TransformBuffer()))
    assert out.record.ok
    np.testing.assert_allclose(out.depth_m, with_tf.depth_m, rtol=1e-5, equal_nan=True)


def test_lidar_without_any_transform_reports_which(scene_frames):
    out = DepthPipeline(SceneTruthEstimator(scene_frames), config()).process(
        frame_input(scene_frames[0], transforms=TransformBuffer()))
    assert not out.record.ok and out.depth_m is None
    assert LIDAR_FRAME in out.record.reason and 'lidar_to_camera is empty' in out.record.reason


def test_lidar_without_a_cloud_carries_the_adapters_reason(scene_frames):
    out = DepthPipeline(SceneTruthEstimator(scene_frames), config()).process(
        frame_input(scene_frames[0], with_cloud=False, cloud_miss_reason='newest point cloud is 0.500 s older'))
    assert not out.record.ok and '0.500 s older' in out.record.reason


def test_lidar_mode_without_camera_reports_no_camera_info(scene_frames):
    out = DepthPipeline(SceneTruthEstimator(scene_frames), config()).process(
        frame_input(scene_frames[0], camera=None))
    assert not out.record.ok and 'no camera info' in out.record.reason
    assert out.depth_m is None and out.relative is not None


def test_fit_is_held_over_a_lidar_dropout(scene_frames):
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(hold_s=1.0))
    first = pipeline.process(frame_input(scene_frames[0]))
    assert first.record.ok and not first.record.held
    second = pipeline.process(frame_input(scene_frames[1], with_cloud=False, cloud_miss_reason='no point cloud received'))
    assert second.record.ok and second.record.held and second.depth_m is not None
    assert second.record.fit_age_s == pytest.approx(0.1, abs=1e-6)
    assert 'no point cloud received' in second.record.reason


def test_lidar_fit_is_checked_against_the_camera_height_in_tf(scene_frames):
    frame = scene_frames[0]
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='lidar', occlusion_window_px=5))
    check = pipeline.process(frame_input(frame)).record.height_check
    assert check is not None and check.agrees
    assert check.implied_height_m == pytest.approx(frame.camera_to_base.translation[2], rel=0.03)
    # TF says the camera is 20 % higher than it is: the LiDAR's metres disagree, and /diagnostics is told
    pose = frame.camera_to_base
    wrong = TransformBuffer()
    wrong.set_transform(CAMERA_FRAME, LIDAR_FRAME, frame.lidar_to_camera, static=True)
    wrong.set_transform(BASE_FRAME, CAMERA_FRAME, RigidTransform(pose.rotation, pose.translation * [1, 1, 1.2]),
                        static=True)
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='lidar', occlusion_window_px=5))
    out = pipeline.process(frame_input(frame, transforms=wrong))
    assert out.record.ok and not out.record.height_check.agrees
    assert out.record.height_check.disagreement == pytest.approx(1 / 1.2 - 1, abs=0.03)
    from depthmaster_ros.ros import diagnostics
    level, message, values = diagnostics.alignment_status(SimpleNamespace(last_record=out.record))
    assert level == diagnostics.WARN and 'TF says' in message and 'camera_height_from_lidar_m' in dict(values)
    # without the camera's pose in TF there is nothing to check against
    no_base = TransformBuffer()
    no_base.set_transform(CAMERA_FRAME, LIDAR_FRAME, frame.lidar_to_camera, static=True)
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='lidar', occlusion_window_px=5))
    assert pipeline.process(frame_input(frame, transforms=no_base)).record.height_check is None


def test_ground_plane_mode_from_tf_and_from_parameters(small_scene, scene_frames):
    frame = scene_frames[0]
    from_tf = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='ground_plane'))
    out = from_tf.process(frame_input(frame, with_cloud=False))
    assert out.record.ok, out.record.reason
    close, _ = valid_fraction_close(out.depth_m, frame.depth, 1e-3)
    assert close > 0.999
    # the scene's camera is 1.0 m high, pitched down 0.2 rad: the parameter fallback must agree
    from_params = DepthPipeline(SceneTruthEstimator(scene_frames),
                                config(alignment_mode='ground_plane', camera_height_m=1.0, camera_pitch_rad=0.2))
    fallback = from_params.process(frame_input(frame, with_cloud=False, transforms=None))
    np.testing.assert_allclose(fallback.depth_m, out.depth_m, rtol=1e-4, equal_nan=True)


def test_update_config_applies_from_the_next_frame(scene_frames):
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='lidar'))
    assert pipeline.process(frame_input(scene_frames[0])).record.mode == 'lidar'
    pipeline.update_config(config(alignment_mode='fixed', fixed_scale=2.0, fixed_shift=0.0))
    out = pipeline.process(frame_input(scene_frames[1]))
    assert out.record.mode == 'fixed' and out.record.scale == 2.0


def test_stamp_that_goes_back_is_processed_with_a_warning(scene_frames):
    pipeline = DepthPipeline(SceneTruthEstimator(scene_frames), config())
    pipeline.process(frame_input(scene_frames[1]))
    out = pipeline.process(frame_input(scene_frames[0]))
    assert out.record.ok and [w.kind for w in out.warnings] == [kinds.STAMP_ORDER]
    assert 'did not increase' in out.warnings[0].text


def test_zero_stamp_empty_frame_id_and_size_change_are_warned_by_kind(tiny_estimator, small_scene):
    """The pipeline is the one place these are checked, for the node and the bag tool alike."""
    frame = small_scene.render(0.5)
    pipeline = DepthPipeline(tiny_estimator, config(alignment_mode='none'))
    first = pipeline.process(FrameInput(rgb=frame.rgb, stamp_ns=0, frame_id=''))
    assert {w.kind for w in first.warnings} == {kinds.STAMP_ZERO, kinds.EMPTY_FRAME_ID}
    assert first.relative.shape == frame.rgb.shape[:2]                   # processed anyway
    half = np.ascontiguousarray(frame.rgb[::2, ::2])
    second = pipeline.process(FrameInput(rgb=half, stamp_ns=1_000, frame_id=CAMERA_FRAME))
    assert [w.kind for w in second.warnings] == [kinds.SIZE_CHANGE]
    assert '128x96 to 64x48' in second.warnings[0].text
    third = pipeline.process(FrameInput(rgb=half, stamp_ns=2_000, frame_id=CAMERA_FRAME))
    assert third.warnings == []


# cloud pairing and fault counters ----------------------------------------------------------------------
def cloud(stamp_ns):
    return StampedCloud(np.zeros((1, 3), np.float32), LIDAR_FRAME, stamp_ns)


def test_select_cloud_takes_the_newest_inside_the_window():
    clouds = [cloud(s) for s in (100, 900, 1_000, 1_040, 1_200)]
    assert select_cloud(clouds, 1_000, max_age_s=200e-9, future_tolerance_s=50e-9).stamp_ns == 1_040
    assert select_cloud(clouds, 1_000, max_age_s=200e-9, future_tolerance_s=0.0).stamp_ns == 1_000
    assert select_cloud(clouds, 2_000, max_age_s=200e-9, future_tolerance_s=0.0) is None
    assert select_cloud([], 1_000, 1.0, 1.0) is None


def test_describe_miss_says_old_or_new():
    assert 'no point cloud' in describe_miss([], 0)
    assert 'older' in describe_miss([cloud(0)], 500_000_000)
    assert 'newer' in describe_miss([cloud(900_000_000)], 0)


def test_recent_clouds_is_bounded_and_selects():
    recent = RecentClouds(capacity=2)
    for stamp in (1, 2, 3):
        recent.add(cloud(stamp))
    assert [c.stamp_ns for c in recent.snapshot()] == [2, 3]
    found, reason = recent.select(10, max_age_s=1e-9, future_tolerance_s=0.0)
    assert found is None and 'older' in reason
    with pytest.raises(ValueError, match='capacity'):
        RecentClouds(capacity=0)


def test_fault_counters_count_every_fault_and_throttle_the_log():
    now = [0.0]
    faults = FaultCounters(throttle_s=5.0, clock=lambda: now[0])
    assert faults.record('image', 'bad encoding') is True
    assert faults.record('image', 'bad encoding again') is False
    assert faults.record('points', 'empty') is True
    now[0] = 5.0
    assert faults.record('image', 'third') is True
    assert faults.counts() == {'image': 3, 'points': 1} and faults.total() == 4
    assert faults.last_messages()['image'] == 'third'
