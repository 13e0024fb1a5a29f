"""The pipelined frame path (pipeline/pipelined.py) against the serial one, with the real tiny model."""
import threading

import numpy as np
import pytest

from depthmaster_ros.pipeline import DepthPipeline, FrameJob, FrameOutput, PipelinedFrames

from fixtures_estimators import CountingEstimator, SceneTruthEstimator
from fixtures_pipeline import frame_input, pipeline_config

# temporal smoothing on, so each output depends on every frame finished before it
CONFIG = dict(temporal_smoothing=0.5, alignment_method='local', min_points=10)


def run_frames(estimator, frames, in_flight, cameras=1):
    """Every frame (stamps increasing) of every camera through a PipelinedFrames; what each emit saw, in order."""
    config = pipeline_config(**CONFIG)
    pipelines = [DepthPipeline(estimator, config) for _ in range(cameras)]
    emitted = []
    path = PipelinedFrames(lambda job, results: emitted.append((job.context, results)), in_flight)
    for round_ in range(3):
        for index, frame in enumerate(frames):
            stamp = (round_ * len(frames) + index + 1) * 100_000_000
            items = [(pipeline, frame_input(frame, stamp_ns=stamp)) for pipeline in pipelines]
            path.submit(FrameJob(items, stamp))
    path.close()
    return emitted


def arrays(output):
    return [output.depth_m, output.relative, output.confidence, output.points, output.colors,
            output.record.scale, output.record.shift, output.record.reason]


@pytest.mark.parametrize('in_flight, cameras', [(2, 1), (3, 1), (3, 2)])
def test_pipelined_outputs_equal_the_serial_ones_in_the_same_order(frames, in_flight, cameras):
    estimator = SceneTruthEstimator(frames)        # a real forward whose fits succeed, so the fit state matters
    serial = run_frames(estimator, frames, 1, cameras)
    pipelined = run_frames(estimator, frames, in_flight, cameras)
    assert [stamp for stamp, _ in pipelined] == [stamp for stamp, _ in serial] == sorted(s for s, _ in serial)
    assert len(serial) == 3 * len(frames)
    fitted = 0
    for (_, expected), (_, got) in zip(serial, pipelined):
        assert len(got) == cameras
        for one, other in zip(expected, got):
            assert isinstance(one, FrameOutput) and isinstance(other, FrameOutput)
            fitted += one.record.ok
            for a, b in zip(arrays(one), arrays(other)):
                np.testing.assert_equal(a, b)           # bit for bit; NaN equals NaN, None equals None
    assert fitted > 0                          # the temporal fit state was really carried from frame to frame


def test_frames_in_flight_are_bounded_and_forward_overlaps_the_emit(tiny_estimator, frames):
    """With 3 in flight, the forward of frame 3 runs while frame 1 is still being emitted; never more than 3."""
    emitting, release = threading.Event(), threading.Event()
    forwards = CountingEstimator(tiny_estimator)
    config = pipeline_config(**CONFIG)
    pipeline = DepthPipeline(forwards, config)
    emitted = []

    def emit(job, results):
        if job.context == 1:
            emitting.set()
            assert release.wait(20)
        emitted.append(job.context)

    path = PipelinedFrames(emit, 3)
    path.submit(FrameJob([(pipeline, frame_input(frames[0], stamp_ns=1))], 1))
    assert emitting.wait(20)
    path.submit(FrameJob([(pipeline, frame_input(frames[1], stamp_ns=2))], 2))
    path.submit(FrameJob([(pipeline, frame_input(frames[2], stamp_ns=3))], 3))
    assert len(forwards.batches) == 3 and emitted == []       # three forwards while the first still emits
    assert not path.wait_for_slot(timeout=0.2)                  # a fourth frame waits, not taken
    release.set()
    assert path.wait_for_slot(timeout=20)
    path.close()
    assert emitted == [1, 2, 3]


def test_an_emit_error_reaches_the_producer_and_later_frames_are_dropped(tiny_estimator, frames):
    pipeline = DepthPipeline(tiny_estimator, pipeline_config(**CONFIG))
    emitted = []

    def emit(job, results):
        if job.context == 1:
            raise OSError('disk full')
        emitted.append(job.context)

    path = PipelinedFrames(emit, 2)
    path.submit(FrameJob([(pipeline, frame_input(frames[0], stamp_ns=1))], 1))
    with pytest.raises(OSError, match='disk full'):
        path.drain()
    assert path.close(drop=True) and emitted == []


def test_a_frame_the_model_refuses_comes_back_as_its_result(tiny_estimator, frames):
    pipeline = DepthPipeline(tiny_estimator, pipeline_config(**CONFIG))
    results = []
    path = PipelinedFrames(lambda job, got: results.extend(got), 3)
    path.submit(FrameJob([(pipeline, frame_input(frames[0], rgb=np.zeros((4, 4), np.uint8), stamp_ns=1))]))
    path.submit(FrameJob([(pipeline, frame_input(frames[1], stamp_ns=2))]))
    path.close()
    assert isinstance(results[0], ValueError) and 'rgb' in str(results[0])
    assert isinstance(results[1], FrameOutput)
