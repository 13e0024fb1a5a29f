"""Frames already on the estimator's device skip the host upload and give the same prediction.

Here the device is the CPU, so a CPU tensor is the device-resident input; the meta device stands in
for "some other device" (it is a real torch device that holds no data).
"""
import numpy as np
import pytest
import torch

from depthmaster_ros.model import load_estimator

from fixtures_model import textured_rgb


def test_tensor_input_gives_exactly_the_numpy_prediction(tiny_estimator):
    rgb = textured_rgb(45, 61, seed=11)
    expected = tiny_estimator.predict(rgb, 48).relative
    np.testing.assert_array_equal(tiny_estimator.predict(torch.from_numpy(rgb), 48).relative, expected)
    maps, _ = tiny_estimator.predict_tensor(torch.from_numpy(rgb[None]), 48)
    np.testing.assert_array_equal(maps[0].numpy(), expected)
    from_numpy_batch, _ = tiny_estimator.predict_tensor(rgb[None], 48)
    np.testing.assert_array_equal(maps.numpy(), from_numpy_batch.numpy())


def test_batched_tensors_match_numpy_batches_in_input_order(tiny_estimator):
    frames = [textured_rgb(40, 56, seed=s) for s in range(3)] + [textured_rgb(36, 48, seed=7)]
    expected = [prediction.relative for prediction in tiny_estimator.predict_batch(frames, 48)]
    tensors = [torch.from_numpy(frame) for frame in frames]
    for prediction, wanted in zip(tiny_estimator.predict_batch(tensors, 48), expected):
        np.testing.assert_array_equal(prediction.relative, wanted)
    # Host arrays and tensors of one size run as separate batches; CPU kernels round differently
    # for another batch size, so a mixed list matches to float precision rather than bit for bit.
    mixed = [tensors[0], frames[1], tensors[2], frames[3]]
    for prediction, wanted in zip(tiny_estimator.predict_batch(mixed, 48), expected):
        np.testing.assert_allclose(prediction.relative, wanted, rtol=1e-5, atol=1e-5)
    stacked, _ = tiny_estimator.predict_tensor(torch.stack(tensors[:3]), 48)
    for index in range(3):
        np.testing.assert_array_equal(stacked[index].numpy(), expected[index])


def test_non_contiguous_tensor_views_are_read_correctly(tiny_estimator):
    rgb = textured_rgb(40, 56, seed=12)
    expected = tiny_estimator.predict(rgb, 48).relative
    wide = torch.zeros(40, 80, 3, dtype=torch.uint8)
    wide[:, 10:66] = torch.from_numpy(rgb)
    cropped = wide[:, 10:66]
    planar = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).permute(1, 2, 0)
    for view in (cropped, planar):
        assert not view.is_contiguous()
        np.testing.assert_array_equal(tiny_estimator.predict(view, 48).relative, expected)


def test_the_callers_tensor_is_left_untouched(tiny_estimator):
    frames = torch.from_numpy(textured_rgb(40, 56, seed=13)[None])
    before = frames.clone()
    tiny_estimator.predict_tensor(frames, 48)
    assert torch.equal(frames, before)


def test_naive_mode_takes_tensors_too(tiny_model_dir):
    naive = load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', naive=True)
    rgb = textured_rgb(40, 56, seed=14)
    np.testing.assert_array_equal(naive.predict(torch.from_numpy(rgb), 48).relative, naive.predict(rgb, 48).relative)


@pytest.mark.parametrize('bad, message', [
    (torch.zeros((1, 20, 30, 3), dtype=torch.float32), 'dtype uint8'),
    (torch.zeros((1, 20, 30, 3), dtype=torch.int64), 'dtype uint8'),
    (torch.zeros((20, 30, 3), dtype=torch.uint8), r'shape \(B, H, W, 3\)'),
    (torch.zeros((1, 20, 30, 4), dtype=torch.uint8), r'shape \(B, H, W, 3\)'),
    (torch.zeros((0, 20, 30, 3), dtype=torch.uint8), 'empty'),
    (torch.zeros((1, 20, 30, 3), dtype=torch.uint8, device='meta'), 'tensor is on meta'),
    (np.zeros((1, 20, 30, 3), np.float32), 'dtype uint8'),
    (np.zeros((20, 30, 3), np.uint8), r'shape \(B, H, W, 3\)'),
    ([[[[0, 0, 0]]]], 'got list'),
])
def test_bad_predict_tensor_frames_name_the_argument(tiny_estimator, bad, message):
    with pytest.raises(ValueError, match=rf'^frames: .*{message}'):
        tiny_estimator.predict_tensor(bad, 48)


@pytest.mark.parametrize('bad, message', [
    (torch.zeros((20, 30, 3), dtype=torch.float16), 'dtype uint8'),
    (torch.zeros((1, 20, 30, 3), dtype=torch.uint8), r'shape \(H, W, 3\)'),
    (torch.zeros((20, 30), dtype=torch.uint8), r'shape \(H, W, 3\)'),
    (torch.zeros((20, 30, 3), dtype=torch.uint8, device='meta'), 'tensor is on meta'),
])
def test_bad_tensor_frames_are_named_in_predict_and_predict_batch(tiny_estimator, bad, message):
    with pytest.raises(ValueError, match=rf'^rgb: .*{message}'):
        tiny_estimator.predict(bad, 48)
    good = torch.from_numpy(textured_rgb(20, 30))
    with pytest.raises(ValueError, match=rf'^frames\[1\]: .*{message}'):
        tiny_estimator.predict_batch([good, bad], 48)


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='device-resident CUDA frames need a CUDA device; this machine has none')
def test_cuda_estimator_takes_device_frames_and_refuses_host_tensors(tiny_model_dir):
    estimator = load_estimator('depthmaster', str(tiny_model_dir), 'cuda', 'fp32')
    rgb = textured_rgb(40, 56, seed=15)
    expected = estimator.predict(rgb, 48).relative
    np.testing.assert_array_equal(estimator.predict(torch.from_numpy(rgb).cuda(), 48).relative, expected)
    maps, _ = estimator.predict_tensor(torch.from_numpy(rgb[None]).cuda(), 48)
    assert maps.device.type == 'cuda'
    np.testing.assert_array_equal(maps[0].cpu().numpy(), expected)
    with pytest.raises(ValueError, match='^frames: tensor is on cpu'):
        estimator.predict_tensor(torch.from_numpy(rgb[None]), 48)
