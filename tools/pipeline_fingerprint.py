#!/usr/bin/env python3
"""Fingerprints of the pipeline's outputs over 48 configurations, for refactors that must not change a bit.

Four synthetic frames go through `DepthPipeline` with every combination of alignment mode (lidar,
ground_plane, fixed), method (global, local) and temporal smoothing (0, 0.3), twice: with the tiny random
DepthMaster model on the host and the device per-pixel path (the model and the device path; most of its fits
are refused), and with a scene-truth estimator (the scene's depth under an unknown affine map and a smooth
distortion, in sqrt disparity or depth; its fits are accepted). One SHA-256 per configuration over every
published array, the alignment record (timings left out) and the warnings. Compare a run before and after:

    python tools/pipeline_fingerprint.py > before.json   # on the old commit
    python tools/pipeline_fingerprint.py > after.json    # on the new one
    diff before.json after.json
"""
import dataclasses
import hashlib
import itertools
import json
import math
import sys
import tempfile

import numpy as np

from depthmaster_ros.config import Config
from depthmaster_ros.geometry import StampedCloud, TransformBuffer
from depthmaster_ros.model import DepthEstimator, Prediction, from_pretrained, write_tiny_model
from depthmaster_ros.pipeline import DepthPipeline, FrameInput
from depthmaster_ros.synthetic import SyntheticScene, fake_prediction

TIMING_FIELDS = ('inference_time_s', 'alignment_time_s')


def _record_items(record):
    values = record.as_dict() if hasattr(record, 'as_dict') else dataclasses.asdict(record)
    items = []
    for name in sorted(values):
        if name in TIMING_FIELDS:
            continue
        value = values[name]
        if isinstance(value, float) and math.isnan(value):
            value = 'nan'
        items.append((name, value))
    return items


def _digest(outputs) -> str:
    digest = hashlib.sha256()
    for output in outputs:
        for name in ('depth_m', 'relative', 'confidence', 'points', 'colors'):
            array = getattr(output, name)
            digest.update(name.encode())
            if array is not None:
                array = np.ascontiguousarray(array)
                digest.update(str((array.dtype, array.shape)).encode())
                digest.update(array.tobytes())
        digest.update(repr(_record_items(output.record)).encode())
        digest.update(repr(sorted((w.kind, w.text) for w in output.warnings)).encode())
    return digest.hexdigest()


class SceneTruth(DepthEstimator):
    """The scene's depth in `space` under an unknown affine map and a smooth distortion (fits succeed)."""

    backend = 'scene_truth'

    def __init__(self, frames, space):
        import torch
        super().__init__('scene-truth', torch.device('cpu'), torch.float32)
        self.space = space
        rng = np.random.default_rng(7)
        self._maps = {frame.rgb.tobytes(): fake_prediction(np.nan_to_num(frame.depth, nan=50.0), space, rng)
                      for frame in frames}

    def _predict_same_size(self, frames, processing_res, per_stage=None):
        return [Prediction(self._maps[rgb.tobytes()], self.space) for rgb in frames]


def _run(estimator, frames, mode, method, smoothing, device):
    config = Config.from_params({
        'processing_res': 64, 'alignment_mode': mode, 'alignment_method': method,
        'temporal_smoothing': smoothing, 'fixed_scale': 0.5, 'fixed_shift': 0.05,
        'use_tf': True})
    pipeline = DepthPipeline(estimator, config, device_frames=device)
    outputs = []
    for frame in frames:
        transforms = TransformBuffer()
        transforms.set_transform('camera_optical', 'lidar', frame.lidar_to_camera, static=True)
        transforms.set_transform('base_footprint', 'camera_optical', frame.camera_to_base, static=True)
        outputs.append(pipeline.process(FrameInput(
            rgb=frame.rgb, stamp_ns=frame.stamp_ns + 1, frame_id='camera_optical', camera=frame.camera,
            cloud=StampedCloud(frame.lidar_points, 'lidar', frame.stamp_ns + 1), transforms=transforms)))
    return _digest(outputs)


def main() -> int:
    scene = SyntheticScene(width=128, height=96)
    frames = [scene.render(t) for t in (0.5, 0.6, 0.7, 0.8)]
    with tempfile.TemporaryDirectory() as directory:
        tiny = from_pretrained('depthmaster', str(write_tiny_model(directory)), 'cpu', 'fp32')
        result = {}
        for mode, method, smoothing in itertools.product(
                ('lidar', 'ground_plane', 'fixed'), ('global', 'local'), (0.0, 0.3)):
            for device in (False, True):
                result[f'tiny/{mode}/{method}/{"device" if device else "host"}/smoothing={smoothing}'] = \
                    _run(tiny, frames, mode, method, smoothing, device)
            for space in ('sqrt_disparity', 'depth'):
                result[f'truth/{mode}/{method}/{space}/smoothing={smoothing}'] = \
                    _run(SceneTruth(frames, space), frames, mode, method, smoothing, False)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
