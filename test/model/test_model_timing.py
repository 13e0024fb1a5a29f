"""Stage timing of the model engine: per-stage on by default, only the total when turned off.

On the CPU the stamps are perf_counter readings; on CUDA they are events on the current stream,
read after the frame's last event, so nothing waits for other streams (checked on a GPU only).
"""
import time

import numpy as np
import pytest
import torch

from depthmaster_ros.model import STAGES, TOTAL, StageTimer, load_estimator

from fixtures_model import textured_rgb

CUDA_ABSENT = 'CUDA event timing needs a CUDA device; this machine has none'


@pytest.fixture(scope='module')
def untimed_estimator(tiny_model_dir):
    return load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', timing=False)


def assert_stage_timings(timings):
    assert set(timings) == set(STAGES)
    assert all(isinstance(value, float) and value > 0 for value in timings.values()), timings


def assert_total_only(timings):
    assert set(timings) == {TOTAL}
    assert isinstance(timings[TOTAL], float) and timings[TOTAL] > 0


def test_every_stage_is_timed_by_default(tiny_estimator):
    assert tiny_estimator.timing is True
    assert_stage_timings(tiny_estimator.predict(textured_rgb(40, 56), 48).timings)
    for prediction in tiny_estimator.predict_batch([textured_rgb(40, 56, seed=s) for s in range(2)], 48):
        assert_stage_timings(prediction.timings)
    _, timings = tiny_estimator.predict_tensor(textured_rgb(40, 56)[None], 48)
    assert_stage_timings(timings)


def test_timing_off_at_load_reports_only_the_total(untimed_estimator):
    assert untimed_estimator.timing is False
    assert_total_only(untimed_estimator.predict(textured_rgb(40, 56), 48).timings)
    for prediction in untimed_estimator.predict_batch([textured_rgb(40, 56, seed=s) for s in range(2)], 48):
        assert_total_only(prediction.timings)
    _, timings = untimed_estimator.predict_tensor(textured_rgb(40, 56)[None], 48)
    assert_total_only(timings)


def test_a_call_overrides_the_estimator_setting(tiny_estimator, untimed_estimator):
    rgb = textured_rgb(40, 56, seed=3)
    assert_total_only(tiny_estimator.predict(rgb, 48, timing=False).timings)
    assert_stage_timings(untimed_estimator.predict(rgb, 48, timing=True).timings)
    assert_total_only(tiny_estimator.predict_batch([rgb], 48, timing=False)[0].timings)
    assert_stage_timings(untimed_estimator.predict_tensor(rgb[None], 48, timing=True)[1])


def test_timing_does_not_change_the_prediction(tiny_estimator, untimed_estimator):
    rgb = textured_rgb(52, 70, seed=4)
    timed = tiny_estimator.predict(rgb, 64).relative
    np.testing.assert_array_equal(tiny_estimator.predict(rgb, 64, timing=False).relative, timed)
    np.testing.assert_array_equal(untimed_estimator.predict(rgb, 64).relative, timed)
    maps, _ = untimed_estimator.predict_tensor(rgb[None], 64)
    np.testing.assert_array_equal(maps[0].numpy(), timed)


@pytest.mark.parametrize('timing', ['yes', 1, 0.0])
def test_a_non_bool_timing_is_refused(tiny_model_dir, tiny_estimator, timing):
    with pytest.raises(ValueError, match='timing'):
        load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', timing=timing)
    with pytest.raises(ValueError, match='timing'):
        tiny_estimator.predict(textured_rgb(30, 40), 48, timing=timing)


def test_stage_times_add_up_to_the_frame_and_repeated_marks_accumulate():
    outer_start = time.perf_counter()
    timer = StageTimer(torch.device('cpu'))
    time.sleep(0.002)
    timer.mark('preprocess')
    time.sleep(0.002)
    timer.mark('unet')
    time.sleep(0.002)
    timer.mark('preprocess')
    timer.finish('postprocess')
    outer = time.perf_counter() - outer_start
    assert list(timer) == ['preprocess', 'unet', 'postprocess']
    # Two sleeps went into 'preprocess', one into 'unet': sleep guarantees at least its duration.
    assert timer['preprocess'] >= 0.004 and timer['unet'] >= 0.002
    assert sum(timer.values()) <= outer


def test_without_per_stage_timing_marks_are_ignored():
    timer = StageTimer(torch.device('cpu'), per_stage=False)
    timer.mark('preprocess')
    time.sleep(0.002)
    timer.finish('postprocess')
    assert dict(timer).keys() == {TOTAL} and timer[TOTAL] >= 0.002


def test_reading_a_timer_before_it_is_finished_is_an_error():
    with pytest.raises(RuntimeError, match='finish'):
        dict(StageTimer(torch.device('cpu')))


@pytest.mark.skipif(not torch.cuda.is_available(), reason=CUDA_ABSENT)
def test_cuda_timing_uses_events_and_never_waits_for_another_stream(tiny_model_dir):
    estimator = load_estimator('depthmaster', str(tiny_model_dir), 'cuda', 'fp32')
    rgb = textured_rgb(40, 56, seed=5)
    estimator.predict(rgb, 48)   # warm-up: kernels and allocator
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        # Keeps the side stream busy for far longer than the tiny model's frame takes.
        torch.cuda._sleep(int(2e9))
        side_done = torch.cuda.Event()
        side_done.record(side)
    frames = torch.from_numpy(rgb[None]).cuda()
    maps, timings = estimator.predict_tensor(frames, 48)
    assert_stage_timings(timings)
    prediction = estimator.predict(rgb, 48)
    assert_stage_timings(prediction.timings)
    # A device-wide synchronise at any stage boundary would have waited for the side stream.
    assert not side_done.query()
    np.testing.assert_array_equal(maps[0].cpu().numpy(), prediction.relative)
    assert_total_only(estimator.predict(rgb, 48, timing=False).timings)
    assert not side_done.query()
    side_done.synchronize()


def test_an_estimator_with_only_the_two_argument_hook_still_predicts():
    """Estimators without per-stage timing (test doubles of the pipeline, the soak tool) keep working."""
    from depthmaster_ros.model import DepthEstimator, Prediction, Space

    class Flat(DepthEstimator):
        space = Space.SQRT_DISPARITY

        def _predict_same_size(self, frames, processing_res):
            return [Prediction(np.full(frame.shape[:2], 0.5, np.float32), self.space) for frame in frames]

    flat = Flat('flat', torch.device('cpu'), torch.float32)
    assert flat.predict(np.zeros((4, 5, 3), np.uint8), 8).relative.shape == (4, 5)
    assert len(flat.predict_batch([np.zeros((4, 5, 3), np.uint8), torch.zeros((6, 7, 3), dtype=torch.uint8)], 8)) == 2
