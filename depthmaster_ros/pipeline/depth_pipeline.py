"""One camera frame, end to end, without ROS: the node and the bag tool both call `DepthPipeline`.

model -> (optional resize to the processing size) -> alignment by mode -> temporal filter ->
metric depth -> points -> alignment record. Everything a frame needs arrives in `FrameInput`,
so the same frame gives the same output whichever adapter fed it.
"""
import time
from typing import Any

import cv2
import numpy as np

from depthmaster_ros.alignment.fit import EVIDENCE_FIELDS, AlignmentResult, align_to_sparse_depth, apply_alignment
from depthmaster_ros.alignment.modes import FixedFit, NoSamples, SampleRequest, get_mode
from depthmaster_ros.alignment.record import AlignmentRecord
from depthmaster_ros.alignment.temporal_filter import TemporalAlignmentFilter
from depthmaster_ros.config.settings import Config
from depthmaster_ros.geometry.backprojection import depth_to_points, depth_to_points_with_colors
from depthmaster_ros.model.sizing import processing_size

from . import frames as kinds
from .frames import FrameInput, FrameOutput, FrameWarning
from .rectify import needs_rectification, rectified_camera, rectify_image

NO_CAMERA_REASON = 'no camera info matched this image (stamp and size): relative depth only'

# processing_res steps tried, largest first, when the GPU runs out of memory
OOM_RESOLUTION_STEPS = (768, 640, 512, 384)


def is_out_of_memory(error: BaseException) -> bool:
    """True for a CUDA out-of-memory error (the class exists on CPU-only torch builds too)."""
    import torch
    oom_class = getattr(torch.cuda, 'OutOfMemoryError', None)
    return oom_class is not None and isinstance(error, oom_class)


def next_lower_resolution(current: int, image_long_edge: int) -> int | None:
    """The next OOM step below the effective resolution, or None at the bottom of the ladder."""
    effective = current if current > 0 else image_long_edge
    for step in OOM_RESOLUTION_STEPS:
        if step < effective:
            return step
    return None


def _resize(image, height, width, interpolation):
    if image.shape[:2] == (height, width):
        return image
    return cv2.resize(image, (width, height), interpolation=interpolation)


class DepthPipeline:
    """Runs frames through the estimator and the alignment; holds the temporal fit state.

    Every frame fault it can see (stamps, size changes, a failed fit, an OOM retry) is checked here
    once, for the node and the bag tool alike, and returned as `FrameOutput.warnings`.
    """

    def __init__(self, estimator: Any, config: Config):
        self.estimator = estimator
        self.config = config
        self._oom_processing_res: int | None = None   # lowered after a CUDA OOM, until reconfigured
        self._filter = self._new_filter(config)
        self._last_stamp_ns: int | None = None
        self._last_size: tuple[int, int] | None = None

    # configuration -------------------------------------------------------------------------
    @staticmethod
    def _new_filter(config: Config) -> TemporalAlignmentFilter:
        return TemporalAlignmentFilter(smoothing=config.alignment.temporal_smoothing, hold_s=config.alignment.hold_s)

    def update_config(self, config: Config) -> None:
        """Apply new parameters from the next frame on; alignment state restarts when its rules change."""
        old, self.config = self.config, config
        before, after = old.alignment, config.alignment
        if (before.temporal_smoothing, before.hold_s, before.alignment_mode) != \
                (after.temporal_smoothing, after.hold_s, after.alignment_mode):
            self._filter = self._new_filter(config)
        if old.model.processing_res != config.model.processing_res:
            self._oom_processing_res = None

    @property
    def processing_res(self) -> int:
        """The resolution actually used: the configured one, or the lower one an OOM forced."""
        if self._oom_processing_res is not None:
            return self._oom_processing_res
        return self.config.model.processing_res

    # one frame -------------------------------------------------------------------------------
    def process(self, frame: FrameInput) -> FrameOutput:
        config = self.config
        started = time.perf_counter()
        warnings: list[FrameWarning] = []
        rgb = _check_rgb(frame.rgb, config.input.max_pixels)
        self._check_frame(frame, rgb, warnings)
        camera = frame.camera
        if camera is not None and (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise ValueError(f'camera: model is {camera.width}x{camera.height} but the image is '
                             f'{rgb.shape[1]}x{rgb.shape[0]}')

        prediction, inference_s = self._predict(rgb, warnings)
        relative = np.asarray(prediction.relative, dtype=np.float32)
        confidence = prediction.confidence if config.output.publish_confidence else None
        timings = {'inference': inference_s}
        timings.update({f'model.{k}': float(v) for k, v in (prediction.timings or {}).items()})

        t0 = time.perf_counter()
        colors_source = rgb
        if config.output.output_resolution == 'processing':
            width, height = processing_size(rgb.shape[1], rgb.shape[0], self.processing_res)
            relative = _resize(relative, height, width, cv2.INTER_AREA)
            colors_source = _resize(rgb, height, width, cv2.INTER_AREA)
            if confidence is not None:
                confidence = _resize(np.asarray(confidence, np.float32), height, width, cv2.INTER_AREA)
            if camera is not None:
                camera = camera.scaled(width, height)
        timings['resize'] = time.perf_counter() - t0

        t0 = time.perf_counter()
        record = AlignmentRecord(mode=config.alignment.alignment_mode, space=prediction.space,
                                 backend=config.model.backend, model=config.model.model,
                                 inference_time_s=inference_s)
        if camera is None and get_mode(config.alignment.alignment_mode).metric:
            # metres only with the matching camera_info in the same frame, never from a held fit alone
            depth_m, record.reason = None, NO_CAMERA_REASON
        else:
            depth_m = self._align(frame, relative, prediction.space, camera, record, warnings)
        record.alignment_time_s = time.perf_counter() - t0
        timings['alignment'] = record.alignment_time_s

        if camera is not None and config.output.output_geometry == 'rectified' and needs_rectification(camera):
            t0 = time.perf_counter()
            relative = rectify_image(relative, camera)
            colors_source = rectify_image(colors_source, camera)
            confidence = None if confidence is None else rectify_image(np.asarray(confidence, np.float32), camera)
            depth_m = None if depth_m is None else rectify_image(depth_m, camera, nearest=True)
            camera = rectified_camera(camera)
            timings['rectify'] = time.perf_counter() - t0

        t0 = time.perf_counter()
        points = colors = None
        if config.output.publish_cloud and depth_m is not None and camera is not None:
            points, colors = self._points(depth_m, camera, colors_source)
        timings['backprojection'] = time.perf_counter() - t0
        timings['total'] = time.perf_counter() - started
        return FrameOutput(depth_m=depth_m, relative=relative, space=prediction.space,
                           confidence=None if confidence is None else np.asarray(confidence, np.float32),
                           camera=camera, points=points, colors=colors, record=record,
                           timings=timings, warnings=warnings)

    def _check_frame(self, frame: FrameInput, rgb: np.ndarray, warnings: list[FrameWarning]) -> None:
        if not frame.frame_id:
            warnings.append(FrameWarning(kinds.EMPTY_FRAME_ID, "image has an empty frame_id; outputs carry '' "
                                         'too and LiDAR/ground-plane transforms cannot be looked up'))
        if frame.stamp_ns <= 0:
            warnings.append(FrameWarning(kinds.STAMP_ZERO, 'image stamp is zero or negative; processing it anyway'))
        elif self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            step_s = (frame.stamp_ns - self._last_stamp_ns) * 1e-9
            warnings.append(FrameWarning(kinds.STAMP_ORDER, f'image stamp did not increase (by {step_s:.3f} s; '
                                         'bag loop or clock jump); an earlier stamp restarts the temporal fit'))
        self._last_stamp_ns = frame.stamp_ns
        size = (int(rgb.shape[0]), int(rgb.shape[1]))
        if self._last_size is not None and size != self._last_size:
            warnings.append(FrameWarning(kinds.SIZE_CHANGE, f'image size changed from {self._last_size[1]}x'
                                         f'{self._last_size[0]} to {size[1]}x{size[0]}'))
        self._last_size = size

    def _predict(self, rgb: np.ndarray, warnings: list[FrameWarning]) -> tuple[Any, float]:
        """Estimator forward; on CUDA OOM free the cache, step processing_res down and retry."""
        while True:
            processing_res = self.processing_res
            t0 = time.perf_counter()
            try:
                prediction = self.estimator.predict(rgb, processing_res)
                return prediction, time.perf_counter() - t0
            except Exception as error:  # noqa: BLE001 - only CUDA OOM is handled, everything else re-raised
                if not is_out_of_memory(error):
                    raise
                lower = next_lower_resolution(processing_res, max(rgb.shape[:2]))
                _free_cuda_cache()
                if lower is None:
                    raise
                message = (f'CUDA out of memory at processing_res {processing_res}; '
                           f'retrying at {lower} (set processing_res lower to avoid this)')
                self._oom_processing_res = lower
                warnings.append(FrameWarning(kinds.CUDA_OOM, message))

    # alignment ---------------------------------------------------------------------------------
    def _align(self, frame: FrameInput, relative: np.ndarray, space: str, camera: Any,
               record: AlignmentRecord, warnings: list[FrameWarning]) -> np.ndarray | None:
        settings = self.config.alignment
        mode = get_mode(settings.alignment_mode)
        outcome = mode.samples(SampleRequest(
            stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, camera=camera, cloud=frame.cloud,
            cloud_miss_reason=frame.cloud_miss_reason, transforms=frame.transforms, settings=settings))
        if not mode.metric:
            record.reason = outcome.reason if isinstance(outcome, NoSamples) else ''
            return None
        if isinstance(outcome, FixedFit):
            record.ok, record.scale, record.shift = True, outcome.scale, outcome.shift
            return self._metric(relative, space, outcome.scale, outcome.shift)
        if isinstance(outcome, NoSamples):
            fresh = AlignmentResult(ok=False, reason=outcome.reason, space=space)
        else:
            _, fresh = align_to_sparse_depth(relative, space, outcome.depth, min_depth=settings.min_depth,
                                             max_depth=settings.max_depth, min_points=settings.min_points,
                                             focal_px=None if camera is None else camera.fy,
                                             check_extrinsic=mode.needs_cloud)
        applied = self._filter.update(frame.stamp_ns * 1e-9, fresh)
        _fill_record(record, applied)
        if not fresh.ok:
            warnings.append(FrameWarning(kinds.ALIGNMENT, f'alignment: {fresh.reason}'))
        if not record.ok:
            return None
        return self._metric(relative, space, applied.scale, applied.shift)

    def _metric(self, relative: np.ndarray, space: str, scale: float, shift: float) -> np.ndarray:
        settings = self.config.alignment
        return apply_alignment(relative, space, scale, shift, min_depth=settings.min_depth,
                               max_depth=settings.max_depth).astype(np.float32, copy=False)

    # points --------------------------------------------------------------------------------------
    def _points(self, depth_m: np.ndarray, camera: Any, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        output = self.config.output
        if output.cloud_rgb:
            return depth_to_points_with_colors(depth_m, rgb, camera, output.cloud_stride, output.cloud_organized)
        return depth_to_points(depth_m, camera, output.cloud_stride, output.cloud_organized), None


def _fill_record(record, applied):
    """Copy the applied (filtered) fit into the record; the reason says why not ok or why held."""
    record.ok = bool(applied.ok)
    record.held = bool(applied.held)
    record.reason = applied.reason if (not applied.ok or applied.held) else ''
    record.scale, record.shift = float(applied.scale), float(applied.shift)
    record.num_points, record.num_inliers = int(applied.num_points), int(applied.num_inliers)
    record.rmse_m = float(applied.rmse_m)
    record.fit_age_s = float(applied.fit_age_s)
    for name in EVIDENCE_FIELDS:
        setattr(record, name, getattr(applied, name))


def _check_rgb(rgb, max_pixels):
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, 'shape', None)
        dtype = getattr(rgb, 'dtype', type(rgb).__name__)
        raise ValueError(f'rgb: expected an (H, W, 3) uint8 array, got shape {shape} dtype {dtype}')
    height, width = rgb.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f'rgb: image is empty ({width}x{height})')
    if height * width > max_pixels:
        raise ValueError(f'rgb: {width}x{height} = {height * width} pixels is above max_pixels {max_pixels}')
    return rgb


def _free_cuda_cache():
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
