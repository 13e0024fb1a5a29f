"""The device path (tensors through apply_alignment and depth_to_points, frame_maps) against the numpy path, on CPU tensors,
and several cameras through one forward (camera_batch)."""
import numpy as np
import pytest
import torch

from depthmaster_ros.alignment import Space, apply_alignment, metric_depth_from_sparse, project_to_sparse_depth
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import StampedCloud, depth_to_points
from depthmaster_ros.pipeline import DepthPipeline, DeviceMaps, FrameInput, HostMaps, process_camera_batch
from depthmaster_ros.pipeline import device_postprocess as dp
from depthmaster_ros.synthetic import SyntheticScene, fake_prediction

from fixtures_estimators import CountingEstimator, OutOfMemoryFirst

LIDAR_AT_CAMERA = {'alignment_mode': 'lidar', 'use_tf': False, 'lidar_to_camera': [0, 0, 0, 0, 0, 0, 1],
                   'lidar_frame': 'camera', 'processing_res': 64}


@pytest.fixture(scope='module')
def frames():
    scene = SyntheticScene(width=128, height=96)
    return [scene.render(0.4 * index) for index in range(3)]


def sparse_of(frame):
    return project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, 128, 96).depth


@pytest.mark.parametrize('space', list(Space))
def test_the_device_maps_fit_is_the_numpy_fit(frames, space):
    rng = np.random.default_rng(3)
    settings = Config.from_params({}).alignment
    for frame in frames[:2]:
        relative = fake_prediction(frame.depth, space, rng).astype(np.float32)
        relative[:10, :10] = np.nan             # non-finite predictions are not samples
        sparse = sparse_of(frame)
        _, expected = metric_depth_from_sparse(relative, space, sparse, check_extrinsic=True,
                                               focal_px=frame.camera.fy, method=settings.alignment_method)
        got = DeviceMaps(torch.from_numpy(relative)).fit(sparse, space, settings, focal_px=frame.camera.fy,
                                                         check_extrinsic=True)
        assert got == expected and expected.ok
        assert HostMaps(relative).fit(sparse, space, settings, frame.camera.fy, True) == expected


@pytest.mark.parametrize('space', list(Space))
def test_apply_and_backprojection_match_numpy(frames, space):
    rng = np.random.default_rng(4)
    relative = np.stack([fake_prediction(frame.depth, space, rng) for frame in frames[:2]]).astype(np.float32)
    scales, shifts = [1.1, float('nan')], [0.02, 0.0]
    metric = apply_alignment(torch.from_numpy(relative), space, scales, shifts, 0.5, 8.0).numpy()
    for index in range(2):
        expected = apply_alignment(relative[index], space, scales[index], shifts[index], 0.5, 8.0)
        np.testing.assert_array_equal(metric[index], expected)
    depth = frames[0].depth
    for stride in (1, 3):
        expected = depth_to_points(depth, frames[0].camera, stride)
        got = depth_to_points(torch.from_numpy(depth), frames[0].camera, stride).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
        assert np.array_equal(np.isnan(got), np.isnan(expected))


def test_copy_back_returns_every_array_from_one_buffer():
    tensors = [torch.arange(6, dtype=torch.float32).reshape(2, 3), None, torch.ones(4, 1, 3)]
    arrays = dp.copy_back(tensors)
    np.testing.assert_array_equal(arrays[0], tensors[0].numpy())
    assert arrays[1] is None and arrays[2].shape == (4, 1, 3)
    assert arrays[0].base is arrays[2].base


def frame_input(frame, index):
    stamp = 1_000_000_000 + index * 100_000_000
    return FrameInput(rgb=frame.rgb, stamp_ns=stamp, frame_id='camera', camera=frame.camera,
                      cloud=StampedCloud(frame.lidar_points_in_camera(), 'camera', stamp))


@pytest.mark.parametrize('params', [dict(alignment_mode='fixed', cloud_rgb=True),
                                    dict(alignment_mode='fixed', output_resolution='processing',
                                         cloud_organized=True, publish_relative=False),
                                    LIDAR_AT_CAMERA])
def test_device_frames_give_the_host_outputs(tiny_estimator, frames, params):
    config = Config.from_params(dict(LIDAR_AT_CAMERA, **params))
    host = DepthPipeline(tiny_estimator, config, device_frames=False).process(frame_input(frames[0], 0))
    device = DepthPipeline(tiny_estimator, config, device_frames=True).process(frame_input(frames[0], 0))
    assert device.record.ok == host.record.ok and device.record.reason == host.record.reason
    if config.output.publish_relative:
        np.testing.assert_array_equal(device.relative, host.relative)
    else:
        assert device.relative is None
    if host.depth_m is None:
        assert device.depth_m is None and device.points is None
        return
    tolerance = dict(rtol=1e-5, atol=1e-6) if config.output.output_resolution == 'input' else dict(rtol=2e-2)
    np.testing.assert_allclose(device.depth_m, host.depth_m, **tolerance)
    np.testing.assert_allclose(device.points, host.points, **tolerance)
    if host.colors is not None:
        np.testing.assert_array_equal(device.colors, host.colors)


@pytest.mark.parametrize('device_frames', [False, True])
def test_cameras_share_one_forward_per_size_and_keep_their_own_state(tiny_estimator, frames, device_frames):
    config = Config.from_params(dict(LIDAR_AT_CAMERA, alignment_mode='fixed'))
    counting = CountingEstimator(tiny_estimator)
    pipelines = [DepthPipeline(counting, config, device_frames=device_frames) for _ in range(4)]
    small = SyntheticScene(width=64, height=48).render(0.0)
    inputs = [frame_input(frames[0], 1), frame_input(frames[1], 1), frame_input(small, 1), frame_input(frames[2], 1)]
    inputs.append(FrameInput(rgb=np.zeros((4, 4), np.uint8), stamp_ns=1, frame_id='bad'))
    outputs = process_camera_batch(list(zip(pipelines + [pipelines[0]], inputs)))
    assert sorted(counting.batches) == [1, 3]
    assert isinstance(outputs[4], ValueError) and 'rgb' in str(outputs[4])
    for pipeline_input, output in zip(inputs[:4], outputs[:4]):
        alone = DepthPipeline(tiny_estimator, config, device_frames=device_frames).process(pipeline_input)
        np.testing.assert_allclose(output.depth_m, alone.depth_m, rtol=1e-4, atol=1e-5)
        assert output.depth_m.shape == pipeline_input.rgb.shape[:2]
    # Each camera kept its own stamps: the next frame of camera 0 is in order, an old one is not.
    later = process_camera_batch([(pipelines[0], frame_input(frames[0], 2)), (pipelines[1], frame_input(frames[1], 0))])
    assert not [w for w in later[0].warnings if w.kind == 'image_stamp_order']
    assert [w for w in later[1].warnings if w.kind == 'image_stamp_order']


def test_a_lone_camera_frame_goes_down_the_out_of_memory_ladder(tiny_estimator, frames):
    config = Config.from_params(dict(LIDAR_AT_CAMERA, alignment_mode='fixed', processing_res=512))
    failing = OutOfMemoryFirst(tiny_estimator, failures=1)
    (output,) = process_camera_batch([(DepthPipeline(failing, config, device_frames=False), frame_input(frames[0], 1))])
    assert not isinstance(output, Exception), output
    assert failing.requested == [512, 384] and [w.kind for w in output.warnings] == ['cuda_out_of_memory']


def test_warm_up_runs_every_shape_once(tiny_estimator):
    seconds = tiny_estimator.warm_up([(64, 48), (80, 60)], (32, 64), batch_sizes=(1, 2))
    assert sorted(seconds) == sorted(f'{w}x{h} r{r} b{b}' for w, h in ((64, 48), (80, 60))
                                     for r in (32, 64) for b in (1, 2))
    assert all(value > 0 for value in seconds.values())
