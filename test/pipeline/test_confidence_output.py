"""depth/confidence from the pipeline: the alignment confidence for every backend (a model without
its own confidence publishes it too), times the model's own where it has one, the same on the host
and the device path, and carried into the frame's messages."""
import numpy as np
import pytest
import torch

from depthmaster_ros.bag import messages as builders
from depthmaster_ros.conversions import image_to_numpy
from depthmaster_ros.model import Prediction
from depthmaster_ros.pipeline import DepthPipeline, frame_messages

from fixtures_estimators import SceneTruthEstimator
from fixtures_pipeline import frame_input
from fixtures_pipeline import pipeline_config as config

LIDAR = dict(alignment_mode='lidar', occlusion_window_px=5)


@pytest.fixture(scope='module')
def scene_frames(small_scene):
    return [small_scene.render(t) for t in (0.5, 0.6)]


class WithModelConfidence(SceneTruthEstimator):
    """The scene truth with a model confidence of its own (as a Marigold ensemble gives): 0.5 on the left half."""

    def _predict_same_size(self, frames, processing_res):
        predictions = []
        for prediction in super()._predict_same_size(frames, processing_res):
            confidence = np.ones_like(prediction.relative)
            confidence[:, : confidence.shape[1] // 2] = 0.5
            predictions.append(Prediction(prediction.relative, prediction.space, confidence=confidence))
        return predictions


class OnDevice(SceneTruthEstimator):
    """The scene truth handed back as device tensors (the CPU stands in for the GPU)."""

    def predict_tensor(self, frames, processing_res):
        relative = np.stack([p.relative for p in self._predict_same_size(list(frames), processing_res)])
        return torch.from_numpy(relative), {}


def test_a_model_without_confidence_publishes_the_alignment_confidence(scene_frames):
    frame = scene_frames[0]
    out = DepthPipeline(SceneTruthEstimator(scene_frames), config(**LIDAR)).process(frame_input(frame))
    assert out.record.ok, out.record.reason
    assert out.confidence is not None and out.confidence.shape == out.depth_m.shape
    assert out.confidence.dtype == np.float32
    assert 0.0 <= out.confidence.min() and out.confidence.max() <= 1.0
    assert float(np.median(out.confidence)) > 0.5          # exact prediction, LiDAR over most of the image
    assert 'confidence' in out.timings


def test_switched_off_or_without_samples_there_is_none(scene_frames):
    frame = scene_frames[0]
    off = DepthPipeline(SceneTruthEstimator(scene_frames), config(publish_confidence=False, **LIDAR))
    assert off.process(frame_input(frame)).confidence is None
    fixed = DepthPipeline(SceneTruthEstimator(scene_frames), config(alignment_mode='fixed'))
    assert fixed.process(frame_input(frame)).confidence is None
    refused = DepthPipeline(SceneTruthEstimator(scene_frames), config(**LIDAR))
    assert refused.process(frame_input(frame, with_cloud=False)).confidence is None


def test_the_model_confidence_multiplies_the_alignment_confidence(scene_frames):
    frame = scene_frames[0]
    alone = DepthPipeline(SceneTruthEstimator(scene_frames), config(**LIDAR)).process(frame_input(frame))
    both = DepthPipeline(WithModelConfidence(scene_frames), config(**LIDAR)).process(frame_input(frame))
    half = alone.confidence.shape[1] // 2
    np.testing.assert_allclose(both.confidence[:, :half], 0.5 * alone.confidence[:, :half], rtol=1e-6)
    np.testing.assert_array_equal(both.confidence[:, half:], alone.confidence[:, half:])


@pytest.mark.parametrize('method', ['global', 'local'])
def test_the_device_path_gives_the_host_confidence(scene_frames, method):
    frame = scene_frames[1]
    settings = config(alignment_method=method, **LIDAR)
    host = DepthPipeline(SceneTruthEstimator(scene_frames), settings, device_frames=False).process(frame_input(frame))
    device = DepthPipeline(OnDevice(scene_frames), settings, device_frames=True).process(frame_input(frame))
    assert host.record.ok and device.record.ok
    np.testing.assert_array_equal(device.confidence, host.confidence)


def test_the_confidence_travels_in_the_frames_messages(scene_frames):
    out = DepthPipeline(SceneTruthEstimator(scene_frames), config(**LIDAR)).process(frame_input(scene_frames[0]))
    messages = dict(frame_messages(out, builders.header(1_000, 'camera'), config(**LIDAR).output, builders).messages)
    np.testing.assert_array_equal(image_to_numpy(messages['confidence']), out.confidence)
