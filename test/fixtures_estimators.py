"""Real estimators with known behaviour, for pipeline and node tests.

`SceneTruthEstimator` returns a rendered scene frame's exact depth under a known affine map, so a
correct alignment must give back the true metres; `OutOfMemoryFirst` raises CUDA OOM as a GPU would;
`CountingEstimator` records the frames of every forward (and can hold them at a gate).
This module imports torch (through DepthEstimator), so it holds no fixtures and is not a plugin:
tests import from it only when they use these estimators.
"""
import numpy as np
import torch

from depthmaster_ros.alignment import to_space
from depthmaster_ros.model import DepthEstimator, Prediction


class SceneTruthEstimator(DepthEstimator):
    """A real estimator for rendered scene frames: returns the frame's exact depth, as sqrt disparity
    under a known affine map, so a correct alignment must give back the true metres."""

    backend = 'scene_truth'
    space = 'sqrt_disparity'

    def __init__(self, frames, scale=0.7, shift=0.05):
        super().__init__('scene-truth', torch.device('cpu'), torch.float32)
        self._depth_by_image = {frame.rgb.tobytes(): frame.depth for frame in frames}
        self.scale, self.shift = scale, shift

    def _predict_same_size(self, frames, processing_res):
        predictions = []
        for rgb in frames:
            depth = self._depth_by_image[rgb.tobytes()]
            relative = (to_space(np.nan_to_num(depth, nan=50.0), self.space) - self.shift) / self.scale
            predictions.append(Prediction(relative.astype(np.float32), self.space))
        return predictions


class OutOfMemoryFirst(DepthEstimator):
    """Wraps a real estimator; its first `failures` calls raise CUDA OOM (as a GPU would)."""

    def __init__(self, inner, failures=1):
        super().__init__(inner.model_id, inner.device, inner.dtype)
        self.inner, self.failures, self.requested = inner, failures, []
        self.space = inner.space

    def predict(self, rgb, processing_res=768):
        self.requested.append(processing_res)
        if self.failures > 0:
            self.failures -= 1
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
        return self.inner.predict(rgb, processing_res)


class CountingEstimator:
    """Wraps a real estimator, recording the number of frames of every forward and every warm-up.

    gate: when given, each forward waits for it to be set (at most 20 s), so a test can let frames
    pile up behind a forward in progress.
    """

    def __init__(self, inner, gate=None):
        self.inner, self.gate, self.batches, self.warm_ups = inner, gate, [], []
        self.backend, self.model_id, self.space = inner.backend, inner.model_id, inner.space
        self.device, self.dtype = inner.device, inner.dtype

    def _forward(self, frames):
        if self.gate is not None:
            self.gate.wait(20)
        self.batches.append(frames)

    def predict(self, rgb, processing_res):
        self._forward(1)
        return self.inner.predict(rgb, processing_res)

    def predict_batch(self, rgbs, processing_res):
        self._forward(len(rgbs))
        return self.inner.predict_batch(rgbs, processing_res)

    def predict_tensor(self, frames, processing_res):
        self._forward(len(frames))
        return self.inner.predict_tensor(frames, processing_res)

    def warm_up(self, image_sizes, processing_res, batch_sizes=(1,)):
        self.warm_ups.append((list(image_sizes), processing_res, tuple(batch_sizes)))
        return self.inner.warm_up(image_sizes, processing_res, batch_sizes)
