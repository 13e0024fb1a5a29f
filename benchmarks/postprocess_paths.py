"""The two post-processing paths the benchmark compares: the numpy reference and the torch one.

Both take the model's prediction for a batch of frames and produce what the node publishes: metric
depth (H,W) float32, the relative map and the points. The torch path keeps the prediction on the
estimator's device and copies back only the published arrays.

Random weights predict nothing about the scene, so their fit is often rejected; the node would then
publish a held-over fit. The benchmark does the same with a fixed stand-in fit, so the depth,
cloud and message stages always do the full work a good frame costs. `fits` counts how many fits
were accepted, and the report shows it.
"""
from types import SimpleNamespace

import numpy as np

HELD_SCALE, HELD_SHIFT = 1.0, 0.0


def project(frame, width, height, params):
    """The frame's LiDAR projection: its sparse depth and the pixels that hold a return (as the lidar mode)."""
    from depthmaster_ros.alignment import project_to_sparse_depth
    return project_to_sparse_depth(
        frame.lidar_points_cam, frame.camera, width, height, min_depth=params['min_depth'],
        max_depth=params['max_depth'], occlusion_window=params['occlusion_window_px'],
        occlusion_rel_threshold=params['occlusion_rel_threshold'])


class NumpyPostprocess:
    """The reference path (alignment.py, backprojection.py) on numpy predictions."""

    name = 'numpy'

    def __init__(self, params):
        self.params = params
        self.fits = {'accepted': 0, 'total': 0}

    def predict(self, estimator, rgbs, processing_res):
        if len(rgbs) == 1:
            return [estimator.predict(rgbs[0], processing_res=processing_res)]
        return list(estimator.predict_batch(rgbs, processing_res=processing_res))

    def align(self, predictions, frames, timer):
        from depthmaster_ros.alignment import apply_alignment, metric_depth_from_sparse
        p = self.params
        with timer.stage('alignment.projection'):
            sparse = [project(frame, prediction.relative.shape[1], prediction.relative.shape[0], p)
                      for prediction, frame in zip(predictions, frames)]
        metrics, fits = [], []
        with timer.stage('alignment.fit'):
            for prediction, sparse_depth, frame in zip(predictions, sparse, frames):
                metric, result = metric_depth_from_sparse(
                    prediction.relative, prediction.space, sparse_depth.depth, min_depth=p['min_depth'],
                    max_depth=p['max_depth'], min_points=p['min_points'], method=p.get('alignment_method', 'global'),
                    focal_px=frame.camera.scaled(*prediction.relative.shape[::-1]).fy, check_extrinsic=True,
                    sample_pixels=sparse_depth.pixels)
                if not result.ok:
                    metric = apply_alignment(prediction.relative, prediction.space, HELD_SCALE, HELD_SHIFT,
                                             p['min_depth'], p['max_depth'])
                self.fits['total'] += 1
                self.fits['accepted'] += int(result.ok)
                metrics.append(metric)
                fits.append((result.scale, result.shift) if result.ok else (HELD_SCALE, HELD_SHIFT))
        if p.get('publish_confidence', True):
            with timer.stage('alignment.confidence'):      # depth/confidence, as the pipeline computes it
                from depthmaster_ros.alignment import alignment_confidence
                for prediction, sparse_depth, (scale, shift) in zip(predictions, sparse, fits):
                    alignment_confidence(prediction.relative, prediction.space, sparse_depth.depth, scale, shift,
                                         p['min_depth'], p['max_depth'], sparse_depth.pixels)
        return metrics

    def relative_maps(self, predictions):
        return [prediction.relative for prediction in predictions]

    def points(self, metrics, frames):
        from depthmaster_ros.geometry import depth_to_points
        p = self.params
        return [depth_to_points(metric, frame.camera, stride=p['cloud_stride'], organized=p['cloud_organized'])
                for metric, frame in zip(metrics, frames)]


class TorchPostprocess:
    """The pipeline's device path (pipeline/frame_maps.DeviceMaps): the numpy fit on the host copy, per-pixel
    work and back-projection on the estimator's device, copies of what is published."""

    name = 'torch'

    def __init__(self, params, device):
        import torch
        self.torch = torch
        self.params = params
        self.device = torch.device(device)
        self.fits = {'accepted': 0, 'total': 0}
        self._relative = self._metric = None

    def predict(self, estimator, rgbs, processing_res):
        """Keeps the device tensor of the relative maps (no host round trip) when the engine offers it."""
        if hasattr(estimator, 'predict_tensor'):
            self._relative, timings = estimator.predict_tensor(np.stack(rgbs), processing_res=processing_res)
            return [SimpleNamespace(space=estimator.space, timings=timings)] * len(rgbs)
        predictions = NumpyPostprocess.predict(self, estimator, rgbs, processing_res)
        self._relative = self.torch.from_numpy(np.stack([prediction.relative for prediction in predictions]))
        self._relative = self._relative.to(self.device)
        return predictions

    def align(self, predictions, frames, timer):
        from depthmaster_ros.alignment import apply_alignment
        from depthmaster_ros.config import Config
        from depthmaster_ros.pipeline import DeviceMaps
        from depthmaster_ros.pipeline import device_postprocess as dp
        p = self.params
        settings = Config.from_params(p).alignment
        space = predictions[0].space
        height, width = self._relative.shape[-2:]
        with timer.stage('alignment.projection'):
            sparse = [project(frame, width, height, p) for frame in frames]
        with timer.stage('alignment.fit'):
            results = [DeviceMaps(relative).fit(projected.depth, space, settings, sample_pixels=projected.pixels)
                       for relative, projected in zip(self._relative, sparse)]
            self._metric = apply_alignment(
                self._relative, space, [r.scale if r.ok else HELD_SCALE for r in results],
                [r.shift if r.ok else HELD_SHIFT for r in results], p['min_depth'], p['max_depth'])
            metrics = dp.to_host(self._metric)
        self.fits['total'] += len(results)
        self.fits['accepted'] += sum(result.ok for result in results)
        return list(metrics)

    def relative_maps(self, predictions):
        from depthmaster_ros.pipeline import device_postprocess as dp
        return list(dp.to_host(self._relative))

    def points(self, metrics, frames):
        from depthmaster_ros.geometry import depth_to_points
        from depthmaster_ros.pipeline import device_postprocess as dp
        p = self.params
        clouds = []
        for depth, frame in zip(self._metric, frames):
            organised = depth_to_points(depth, frame.camera, stride=p['cloud_stride'], organized=True)
            if not p['cloud_organized']:
                organised = organised[self.torch.isfinite(organised[..., 2])]
            clouds.append(dp.to_host(organised))
        return clouds
