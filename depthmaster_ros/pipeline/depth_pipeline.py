"""One camera frame, end to end, without ROS: the node and the bag tool both call `DepthPipeline`.

model -> (optional resize to the processing size) -> alignment by mode -> temporal filter ->
metric depth -> points -> alignment record. Everything a frame needs arrives in `FrameInput`,
so the same frame gives the same output whichever adapter fed it.
"""
from collections.abc import Mapping
from dataclasses import dataclass, replace
import time
from typing import Any, cast

import numpy as np

from depthmaster_ros.alignment import (
    AlignmentRecord,
    HeightCheck,
    PeriodicHeightCheck,
    TemporalAlignmentFilter,
    alignment_confidence,
    pose_from_tf,
)
from depthmaster_ros.alignment.modes import FixedFit, NoSamples, SampleRequest, SparseSamples, get_mode
from depthmaster_ros.config import AlignmentSettings, Config
from depthmaster_ros.model import DeviceEstimator, Estimator, processing_size

from . import frames as kinds
from .errors import PipelineError
from .frame_maps import DeviceMaps, HostMaps, resize_area
from .frames import FrameInput, FrameOutput, FrameWarning
from .navigation import navigation_output
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


@dataclass
class ModelOutput:
    """One frame's model result, with its relative map on the host or on the device (`frame_maps`)."""
    maps: HostMaps | DeviceMaps
    space: str
    confidence: np.ndarray | None
    timings: Mapping[str, float]
    processing_res: int | None = None       # the resolution of this forward (None: the pipeline's)


def uses_device_frames(estimator: Estimator) -> bool:
    """Keep the frame on the device when the model runs on CUDA and can hand back its device maps."""
    device = getattr(estimator, 'device', None)
    return getattr(device, 'type', None) == 'cuda' and hasattr(estimator, 'predict_tensor')


class DepthPipeline:
    """Runs frames through the estimator and the alignment; holds the temporal fit state.

    Every frame fault it can see (stamps, size changes, a failed fit, an OOM retry) is checked here
    once, for the node and the bag tool alike, and returned as `FrameOutput.warnings`.
    """

    def __init__(self, estimator: Estimator, config: Config, device_frames: bool | None = None):
        """device_frames: keep each frame on the estimator's device from upload to the published
        arrays (`frame_maps.DeviceMaps`); None chooses it when the model runs on CUDA."""
        self.estimator = estimator
        self.device_frames = uses_device_frames(estimator) if device_frames is None else bool(device_frames)
        if self.device_frames and not hasattr(estimator, 'predict_tensor'):
            raise PipelineError(f'device_frames: {type(estimator).__name__} has no predict_tensor (device output); '
                                'pass device_frames=False')
        self.config = config
        self._oom_processing_res: int | None = None   # lowered after a CUDA OOM, until reconfigured
        self._filter = self._new_filter(config)
        self._height_check = PeriodicHeightCheck()
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
        started = time.perf_counter()
        warnings: list[FrameWarning] = []
        rgb = self.begin(frame, warnings)
        prediction, inference_s = self._predict(rgb, warnings)
        return self.finish(frame, rgb, prediction, inference_s, warnings, started)

    def begin(self, frame: FrameInput, warnings: list[FrameWarning]) -> np.ndarray:
        """A frame's checks before the model (the batch helper calls this per camera): its rgb."""
        rgb = _check_rgb(frame.rgb, self.config.input.max_pixels)
        self._check_frame(frame, rgb, warnings)
        camera = frame.camera
        if camera is not None and (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise PipelineError(f'camera: model is {camera.width}x{camera.height} but the image is '
                                f'{rgb.shape[1]}x{rgb.shape[0]}')
        return rgb

    def finish(self, frame: FrameInput, rgb: np.ndarray, prediction: ModelOutput, inference_s: float,
               warnings: list[FrameWarning], started: float) -> FrameOutput:
        """Everything after the model: resize, alignment, metres, points, the copy to the host."""
        config = self.config
        camera = frame.camera
        maps = prediction.maps
        confidence = prediction.confidence if config.output.publish_confidence else None
        timings = {'inference': inference_s}
        timings.update({f'model.{k}': float(v) for k, v in (prediction.timings or {}).items()})

        t0 = time.perf_counter()
        colors_source = rgb
        if config.output.output_resolution == 'processing':
            res = self.processing_res if prediction.processing_res is None else prediction.processing_res
            width, height = processing_size(rgb.shape[1], rgb.shape[0], res)
            maps = maps.resized(height, width)
            if config.output.publish_cloud and config.output.cloud_rgb:
                colors_source = resize_area(rgb, height, width)
            if confidence is not None:
                confidence = resize_area(np.asarray(confidence, np.float32), height, width)
            if camera is not None:
                camera = camera.scaled(width, height)
        timings['resize'] = time.perf_counter() - t0

        t0 = time.perf_counter()
        if camera is None and get_mode(config.alignment.alignment_mode).metric:
            # metres only with the matching camera_info in the same frame, never from a held fit alone
            depth_m, applied, samples = None, AlignmentRecord(reason=frame.camera_miss_reason or NO_CAMERA_REASON), None
        else:
            depth_m, applied, samples = self._align(frame, maps, prediction.space, camera, warnings)
        timings['alignment'] = time.perf_counter() - t0
        # the published record: the applied fit, completed with the frame's mode and model; the reason
        # says why not ok or why held, and the local maps stay with the pixels
        record = replace(applied, mode=config.alignment.alignment_mode, space=str(prediction.space),
                         backend=config.model.backend, model=config.model.model,
                         reason=applied.reason if (not applied.ok or applied.held) else '',
                         inference_time_s=inference_s, alignment_time_s=timings['alignment'],
                         local_correction=None)
        if config.output.publish_confidence and samples is not None:
            t0 = time.perf_counter()
            confidence = _with_alignment_confidence(confidence, maps.host(), prediction.space, samples, applied,
                                                    config.alignment)
            timings['confidence'] = time.perf_counter() - t0

        if camera is not None and config.output.output_geometry == 'rectified' and needs_rectification(camera):
            t0 = time.perf_counter()       # remapping runs on the host (a device frame comes back for it)
            maps = HostMaps(rectify_image(maps.host(), camera))
            colors_source = rectify_image(colors_source, camera)
            confidence = None if confidence is None else rectify_image(np.asarray(confidence, np.float32), camera)
            depth_m = None if depth_m is None else rectify_image(_on_host(depth_m), camera, nearest=True)
            camera = rectified_camera(camera)
            timings['rectify'] = time.perf_counter() - t0

        t0 = time.perf_counter()
        metres = depth_m                   # on the device when the frame is: the navigation outputs stay there
        depth_m, relative, points, colors = maps.publish(depth_m, camera, colors_source, config.output)
        timings['backprojection'] = time.perf_counter() - t0
        confidence = None if confidence is None else np.asarray(confidence, np.float32)
        navigation = None
        if depth_m is not None and camera is not None:
            t0 = time.perf_counter()
            navigation, navigation_warnings = navigation_output(metres, confidence, camera, frame.frame_id,
                                                                frame.stamp_ns, frame.transforms, config)
            warnings.extend(navigation_warnings)
            timings['navigation'] = time.perf_counter() - t0
        timings['total'] = time.perf_counter() - started
        return FrameOutput(depth_m=depth_m, relative=relative, space=prediction.space, confidence=confidence,
                           camera=camera, points=points, colors=colors, record=record,
                           timings=timings, warnings=warnings, navigation=navigation)

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

    def predict_group(self, rgbs: list[np.ndarray], processing_res: int) -> list['ModelOutput']:
        """One forward for same-size frames: device maps when the frame stays on the device, else host maps."""
        if self.device_frames:
            maps, timings = cast(DeviceEstimator, self.estimator).predict_tensor(np.stack(rgbs), processing_res)
            timings = dict(timings)
            return [ModelOutput(DeviceMaps(maps[index]), self.estimator.space, None, timings, processing_res)
                    for index in range(len(rgbs))]
        predictions = ([self.estimator.predict(rgbs[0], processing_res)] if len(rgbs) == 1 else
                       self.estimator.predict_batch(rgbs, processing_res))
        return [ModelOutput(HostMaps(p.relative), p.space, p.confidence, p.timings, processing_res)
                for p in predictions]

    def _predict(self, rgb: np.ndarray, warnings: list[FrameWarning]) -> tuple['ModelOutput', float]:
        """Estimator forward; on CUDA OOM free the cache, step processing_res down and retry."""
        while True:
            processing_res = self.processing_res
            t0 = time.perf_counter()
            try:
                (prediction,) = self.predict_group([rgb], processing_res)
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
    def _align(self, frame: FrameInput, maps: Any, space: str, camera: Any,
               warnings: list[FrameWarning]) -> tuple[Any, AlignmentRecord, SparseSamples | None]:
        """(metres or None, the fit applied, the samples its metres came from when it had samples and metres)."""
        settings = self.config.alignment
        mode = get_mode(settings.alignment_mode)
        outcome = mode.samples(SampleRequest(
            stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, camera=camera, cloud=frame.cloud,
            cloud_miss_reason=frame.cloud_miss_reason, transforms=frame.transforms, settings=settings,
            relative=maps.host(), space=space))
        if not mode.metric:
            return None, AlignmentRecord(reason=outcome.reason if isinstance(outcome, NoSamples) else ''), None
        if isinstance(outcome, FixedFit):
            return (maps.metric(space, outcome.scale, outcome.shift, settings),
                    AlignmentRecord(ok=True, scale=outcome.scale, shift=outcome.shift), None)
        if isinstance(outcome, NoSamples):
            fresh = AlignmentRecord(ok=False, reason=outcome.reason, space=str(space))
        else:
            fresh = replace(maps.fit(outcome.depth, space, settings, focal_px=None if camera is None else camera.fy,
                                     check_extrinsic=mode.needs_cloud, sample_pixels=outcome.pixels,
                                     start=outcome.fit_start),
                            floor_share=outcome.floor_share)
            if mode.needs_cloud and fresh.ok and camera is not None:
                fresh = replace(fresh, height_check=self._check_height(frame, maps, space, camera, fresh))
        applied = self._filter.update(frame.stamp_ns * 1e-9, fresh)
        if not fresh.ok:
            warnings.append(FrameWarning(kinds.ALIGNMENT, f'alignment: {fresh.reason}'))
        if not applied.ok:
            return None, applied, None
        # this frame's local correction, or the filtered (smoothed or held) line
        scale, shift = applied.scale_shift()
        return (maps.metric(space, scale, shift, settings), applied,
                None if isinstance(outcome, NoSamples) else outcome)

    def _check_height(self, frame: FrameInput, maps: Any, space: str, camera: Any,
                      fit: AlignmentRecord) -> HeightCheck | None:
        """The LiDAR fit against the camera height in TF (alignment/height_check.py), at most once a second."""
        settings = self.config.alignment
        pose = pose_from_tf(frame.transforms if settings.use_tf else None, settings.base_frame, frame.frame_id,
                            frame.stamp_ns)
        return self._height_check.update(frame.stamp_ns * 1e-9, maps.host(), space, camera, pose,
                                         min(settings.ground_plane_max_depth, settings.max_depth), fit.scale,
                                         fit.shift, fit.scale_uncertainty)


def _with_alignment_confidence(model_confidence: np.ndarray | None, relative: np.ndarray, space: str,
                               samples: SparseSamples, applied: AlignmentRecord,
                               settings: AlignmentSettings) -> np.ndarray:
    """The alignment confidence, times the model's own (Marigold's ensemble) when it gives one."""
    scale, shift = applied.scale_shift()
    confidence = alignment_confidence(relative, space, samples.depth, scale, shift, settings.min_depth,
                                      settings.max_depth, samples.pixels)
    if model_confidence is not None:
        confidence *= np.asarray(model_confidence, np.float32)
    return confidence


def _on_host(array: Any) -> np.ndarray:
    """A numpy array, or a device tensor copied to the host."""
    if isinstance(array, np.ndarray):
        return array
    from .device_postprocess import to_host
    return to_host(array)


def _check_rgb(rgb: object, max_pixels: int) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, 'shape', None)
        dtype = getattr(rgb, 'dtype', type(rgb).__name__)
        raise PipelineError(f'rgb: expected an (H, W, 3) uint8 array, got shape {shape} dtype {dtype}')
    height, width = rgb.shape[:2]
    if height == 0 or width == 0:
        raise PipelineError(f'rgb: image is empty ({width}x{height})')
    if height * width > max_pixels:
        raise PipelineError(f'rgb: {width}x{height} = {height * width} pixels is above max_pixels {max_pixels}')
    return rgb


def _free_cuda_cache() -> None:
    import torch
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
