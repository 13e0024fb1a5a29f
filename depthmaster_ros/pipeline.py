"""One camera frame, end to end, without ROS: the node and the bag tool both call `DepthPipeline`.

model -> (optional resize to the processing size) -> alignment by mode -> temporal filter ->
metric depth -> points -> alignment record. Everything a frame needs arrives in `FrameInput`,
so the same frame gives the same output whichever adapter fed it.
"""
from dataclasses import dataclass, field, fields
import time

import cv2
import numpy as np

from depthmaster_ros import parameters
from depthmaster_ros.alignment import AlignmentResult, align_to_sparse_depth, apply_alignment
from depthmaster_ros.alignment_record import AlignmentRecord
from depthmaster_ros.backprojection import depth_to_points, depth_to_points_with_colors
from depthmaster_ros.ground_plane import camera_to_base_from_height_pitch_roll, ground_plane_depth
from depthmaster_ros.lidar_projection import project_to_sparse_depth
from depthmaster_ros.model.sizing import processing_size
from depthmaster_ros.temporal_filter import TemporalAlignmentFilter
from depthmaster_ros.transforms import RigidTransform

# processing_res steps tried, largest first, when the GPU runs out of memory
OOM_RESOLUTION_STEPS = (768, 640, 512, 384)


@dataclass(frozen=True)
class PipelineConfig:
    """The parameters one frame depends on (a subset of parameters.PARAMETERS, whose table holds
    the defaults: build it with `from_params`)."""
    backend: str
    model: str
    processing_res: int
    alignment_mode: str
    min_depth: float
    max_depth: float
    min_points: int
    lidar_to_camera: tuple
    use_tf: bool
    occlusion_window_px: int
    occlusion_rel_threshold: float
    temporal_smoothing: float
    hold_s: float
    fixed_scale: float
    fixed_shift: float
    base_frame: str
    ground_plane_max_depth: float
    camera_height_m: float
    camera_pitch_rad: float
    camera_roll_rad: float
    output_resolution: str
    publish_confidence: bool
    publish_cloud: bool
    cloud_stride: int
    cloud_organized: bool
    cloud_rgb: bool
    max_pixels: int

    @classmethod
    def from_params(cls, params):
        """Build from a parameters dict (missing names take the table default; all are validated)."""
        merged = {**parameters.defaults(), **parameters.validate_all(dict(params))}
        values = {f.name: merged[f.name] for f in fields(cls)}
        values['lidar_to_camera'] = tuple(values['lidar_to_camera'])
        return cls(**values)


@dataclass(frozen=True)
class CloudInput:
    points: np.ndarray       # (N, 3) float32 in the cloud's own frame
    frame_id: str
    stamp_ns: int


@dataclass
class FrameInput:
    rgb: np.ndarray          # (H, W, 3) uint8
    stamp_ns: int
    frame_id: str            # the camera optical frame
    camera: object = None    # CameraModel for the rgb size, or None
    cloud: CloudInput = None
    transforms: object = None  # TransformBuffer, or None
    cloud_miss_reason: str = ''  # why the adapter found no cloud for this frame (for the record)


@dataclass
class FrameOutput:
    depth_m: np.ndarray      # (h, w) float32 metres, NaN invalid; None in mode none or without a fit
    relative: np.ndarray     # (h, w) float32 in `space`
    space: str
    confidence: np.ndarray   # (h, w) float32 or None
    camera: object           # CameraModel matching depth/relative, or None
    points: np.ndarray       # (h', w', 3) organised or (N, 3), float32, camera optical frame; or None
    colors: np.ndarray       # uint8 rgb matching points, or None
    record: AlignmentRecord
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


def is_out_of_memory(error):
    """True for a CUDA out-of-memory error (the class exists on CPU-only torch builds too)."""
    import torch
    oom_class = getattr(torch.cuda, 'OutOfMemoryError', None)
    return oom_class is not None and isinstance(error, oom_class)


def next_lower_resolution(current, image_long_edge):
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
    """Runs frames through the estimator and the alignment; holds the temporal fit state."""

    def __init__(self, estimator, config, log=None):
        self.estimator = estimator
        self._log = log or (lambda level, message: None)
        self.config = config
        self._oom_processing_res = None     # lowered resolution after a CUDA OOM, until reconfigured
        self._filter = self._new_filter(config)
        self._last_stamp_ns = None
        self._last_size = None

    # configuration -------------------------------------------------------------------------
    @staticmethod
    def _new_filter(config):
        return TemporalAlignmentFilter(smoothing=config.temporal_smoothing, hold_s=config.hold_s)

    def update_config(self, config):
        """Apply new parameters from the next frame on; alignment state restarts when its rules change."""
        old, self.config = self.config, config
        if (old.temporal_smoothing, old.hold_s, old.alignment_mode) != \
                (config.temporal_smoothing, config.hold_s, config.alignment_mode):
            self._filter = self._new_filter(config)
        if old.processing_res != config.processing_res:
            self._oom_processing_res = None

    @property
    def processing_res(self):
        """The resolution actually used: the configured one, or the lower one an OOM forced."""
        return self._oom_processing_res if self._oom_processing_res is not None else self.config.processing_res

    # one frame -------------------------------------------------------------------------------
    def process(self, frame):
        config = self.config
        started = time.perf_counter()
        warnings = []
        rgb = _check_rgb(frame.rgb, config.max_pixels)
        self._check_stamp_and_size(frame, rgb, warnings)
        camera = frame.camera
        if camera is not None and (camera.width, camera.height) != (rgb.shape[1], rgb.shape[0]):
            raise ValueError(f'camera: model is {camera.width}x{camera.height} but the image is '
                             f'{rgb.shape[1]}x{rgb.shape[0]}')

        prediction, inference_s = self._predict(rgb, warnings)
        relative = np.asarray(prediction.relative, dtype=np.float32)
        confidence = prediction.confidence if config.publish_confidence else None
        timings = {'inference': inference_s}
        timings.update({f'model.{k}': float(v) for k, v in (prediction.timings or {}).items()})

        t0 = time.perf_counter()
        colors_source = rgb
        if config.output_resolution == 'processing':
            width, height = processing_size(rgb.shape[1], rgb.shape[0], self.processing_res)
            relative = _resize(relative, height, width, cv2.INTER_AREA)
            colors_source = _resize(rgb, height, width, cv2.INTER_AREA)
            if confidence is not None:
                confidence = _resize(np.asarray(confidence, np.float32), height, width, cv2.INTER_AREA)
            if camera is not None:
                camera = camera.scaled(width, height)
        timings['resize'] = time.perf_counter() - t0

        t0 = time.perf_counter()
        record = AlignmentRecord(mode=config.alignment_mode, space=prediction.space, backend=config.backend,
                                 model=config.model, inference_time_s=inference_s)
        depth_m = self._align(frame, relative, prediction.space, camera, record, warnings)
        record.alignment_time_s = time.perf_counter() - t0
        timings['alignment'] = record.alignment_time_s

        t0 = time.perf_counter()
        points = colors = None
        if config.publish_cloud and depth_m is not None and camera is not None:
            points, colors = self._points(depth_m, camera, colors_source)
        timings['backprojection'] = time.perf_counter() - t0
        timings['total'] = time.perf_counter() - started
        return FrameOutput(depth_m=depth_m, relative=relative, space=prediction.space,
                           confidence=None if confidence is None else np.asarray(confidence, np.float32),
                           camera=camera, points=points, colors=colors, record=record,
                           timings=timings, warnings=warnings)

    def _check_stamp_and_size(self, frame, rgb, warnings):
        if frame.stamp_ns <= 0:
            warnings.append('stamp: image stamp is zero or negative')
        elif self._last_stamp_ns is not None and frame.stamp_ns <= self._last_stamp_ns:
            step_s = (frame.stamp_ns - self._last_stamp_ns) * 1e-9
            warnings.append(f'stamp: image stamp did not increase (by {step_s:.3f} s; '
                            'bag loop or clock jump); an earlier stamp restarts the temporal fit')
        self._last_stamp_ns = frame.stamp_ns
        size = rgb.shape[:2]
        if self._last_size is not None and size != self._last_size:
            warnings.append(f'image size changed from {self._last_size[1]}x{self._last_size[0]} to {size[1]}x{size[0]}')
        self._last_size = size

    def _predict(self, rgb, warnings):
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
                warnings.append(message)
                self._log('warn', message)

    # alignment ---------------------------------------------------------------------------------
    def _align(self, frame, relative, space, camera, record, warnings):
        config = self.config
        mode = config.alignment_mode
        if mode == 'none':
            record.reason = 'alignment_mode is none: relative depth only'
            return None
        stamp_s = frame.stamp_ns * 1e-9
        if mode == 'fixed':
            record.ok, record.scale, record.shift = True, config.fixed_scale, config.fixed_shift
            return self._metric(relative, space, config.fixed_scale, config.fixed_shift)
        reason = 'no camera info'
        fresh = None
        if camera is not None:
            sparse, reason = (self._lidar_sparse_depth(frame, camera) if mode == 'lidar'
                              else self._ground_sparse_depth(frame, camera))
            if sparse is not None:
                _, fresh = align_to_sparse_depth(relative, space, sparse, min_depth=config.min_depth,
                                                 max_depth=config.max_depth, min_points=config.min_points)
        if fresh is None:
            fresh = AlignmentResult(ok=False, reason=reason, space=space)
        applied = self._filter.update(stamp_s, fresh)
        _fill_record(record, applied)
        if not fresh.ok:
            warnings.append(f'alignment: {fresh.reason}')
        if not record.ok:
            return None
        return self._metric(relative, space, applied.scale, applied.shift)

    def _metric(self, relative, space, scale, shift):
        config = self.config
        return apply_alignment(relative, space, scale, shift, min_depth=config.min_depth,
                               max_depth=config.max_depth).astype(np.float32, copy=False)

    def _lidar_sparse_depth(self, frame, camera):
        cloud = frame.cloud
        if cloud is None:
            return None, frame.cloud_miss_reason or 'no point cloud for this image'
        if len(cloud.points) == 0:
            return None, 'point cloud is empty'
        transform, reason = self._lidar_to_camera(frame, cloud)
        if transform is None:
            return None, reason
        points_cam = transform.apply(np.asarray(cloud.points, dtype=np.float64))
        config = self.config
        sparse = project_to_sparse_depth(points_cam, camera, camera.width, camera.height,
                                         min_depth=config.min_depth, max_depth=config.max_depth,
                                         occlusion_window=config.occlusion_window_px,
                                         occlusion_rel_threshold=config.occlusion_rel_threshold)
        return sparse.depth, ''

    def _lidar_to_camera(self, frame, cloud):
        config = self.config
        tf_error = ''
        if config.use_tf and frame.transforms is not None:
            try:
                return frame.transforms.lookup(frame.frame_id, cloud.frame_id, cloud.stamp_ns), ''
            except (LookupError, ValueError) as error:
                tf_error = str(error)
        if config.lidar_to_camera:
            fallback = config.lidar_to_camera
            return RigidTransform.from_translation_quaternion(fallback[:3], fallback[3:]), ''
        reason = f'no transform from {cloud.frame_id!r} to {frame.frame_id!r} and lidar_to_camera is empty'
        if not config.use_tf:
            reason += ' (use_tf is false)'
        return None, f'{reason} ({tf_error})' if tf_error else reason

    def _ground_sparse_depth(self, frame, camera):
        config = self.config
        camera_to_base = None
        if config.use_tf and frame.transforms is not None:
            try:
                camera_to_base = frame.transforms.lookup(config.base_frame, frame.frame_id, frame.stamp_ns)
            except (LookupError, ValueError):
                camera_to_base = None
        if camera_to_base is None:
            camera_to_base = camera_to_base_from_height_pitch_roll(
                config.camera_height_m, config.camera_pitch_rad, config.camera_roll_rad)
        try:
            sparse = ground_plane_depth(camera, camera_to_base, camera.width, camera.height,
                                        max_depth=min(config.ground_plane_max_depth, config.max_depth))
        except ValueError as error:
            return None, f'ground plane: {error}'
        return sparse, ''

    # points --------------------------------------------------------------------------------------
    def _points(self, depth_m, camera, rgb):
        config = self.config
        if config.cloud_rgb:
            return depth_to_points_with_colors(depth_m, rgb, camera, config.cloud_stride, config.cloud_organized)
        return depth_to_points(depth_m, camera, config.cloud_stride, config.cloud_organized), None


def _fill_record(record, applied):
    """Copy the applied (filtered) fit into the record; the reason says why not ok or why held."""
    record.ok = bool(applied.ok)
    record.held = bool(applied.held)
    record.reason = applied.reason if (not applied.ok or applied.held) else ''
    record.scale, record.shift = float(applied.scale), float(applied.shift)
    record.num_points, record.num_inliers = int(applied.num_points), int(applied.num_inliers)
    record.rmse_m = float(applied.rmse_m)
    record.fit_age_s = float(applied.fit_age_s)


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


def resolve_runtime(device, dtype):
    """Turn the 'auto' device/dtype parameters into concrete names: cuda + bf16, or cpu + fp32."""
    import torch
    if device == 'auto':
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if dtype == 'auto':
        dtype = 'bf16' if device.startswith('cuda') else 'fp32'
    return device, dtype


def load_estimator_from_params(params):
    """The estimator the parameters describe (raises ModelLoadError with the fix when unusable)."""
    from depthmaster_ros.model import load_estimator
    device, dtype = resolve_runtime(params['device'], params['dtype'])
    options = {}
    if params['backend'] == 'marigold':
        options = {'marigold_steps': params['marigold_steps'],
                   'marigold_ensemble_size': params['marigold_ensemble_size']}
    return load_estimator(params['backend'], params['model'], device, dtype, **options)


def depth_to_millimetres(depth_m):
    """REP 118 16UC1: millimetres, 0 where invalid or beyond the uint16 range."""
    with np.errstate(invalid='ignore'):
        millimetres = np.round(np.nan_to_num(np.asarray(depth_m, np.float64), nan=0.0) * 1000.0)
        millimetres[(millimetres < 0) | (millimetres > 65535)] = 0
    return millimetres.astype(np.uint16)
