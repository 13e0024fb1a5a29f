"""Every node parameter, once: the node declares them from this table and the bag tool validates
the same YAML file with it, so the two can never disagree on a name, a default or a range.
"""
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
import importlib
import math
import re
from typing import Any, cast

from .errors import ConfigError

STRING = 'string'
INTEGER = 'integer'
DOUBLE = 'double'
BOOL = 'bool'
DOUBLE_ARRAY = 'double_array'
STRING_ARRAY = 'string_array'
ARRAY_TYPES = (DOUBLE_ARRAY, STRING_ARRAY)

# A parameter's value in its canonical Python type (arrays are lists of floats or of strings).
ParameterValue = str | bool | int | float | list[float] | list[str]

# Parameters rclpy itself owns; a params file may set them and the table must not redeclare them.
ROS_OWNED = frozenset({'use_sim_time', 'start_type_description_service'})


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str
    default: ParameterValue
    description: str
    allowed: tuple[str, ...] = ()      # the strings a STRING parameter may take
    choices_from: str = ''             # or 'module:function' of the registry naming them, read on use
    range: tuple[float, float] | None = None   # (min, max), inclusive, for integer and double
    lengths: tuple[int, ...] = ()          # allowed lengths of an array; empty = any
    runtime: bool = True         # False: read-only, a change needs a restart
    group: str = ''              # the Config section that holds it (set from the table's sections)

    @property
    def choices(self) -> tuple[str, ...]:
        """The allowed strings; a registry's names are asked for here, so importing the table imports
        no registry (and none of numpy, torch or the alignment package)."""
        if not self.choices_from:
            return self.allowed
        module, _, function = self.choices_from.partition(':')
        return tuple(getattr(importlib.import_module(module), function)())


def _p(name: str, type_: str, default: ParameterValue, description: str, **extra: Any) -> ParameterSpec:
    return ParameterSpec(name, type_, default, description, **extra)


def _section(group: str, *specs: ParameterSpec) -> tuple[ParameterSpec, ...]:
    return tuple(replace(spec, group=group) for spec in specs)


_FIXED = dict(runtime=False)

PARAMETERS: tuple[ParameterSpec, ...] = (
    # model (loaded once at start-up)
    *_section(
        'model',
        _p('backend', STRING, 'depthmaster', 'Depth model family.', choices_from='depthmaster_ros.model.backends:backend_names', **_FIXED),
        _p('model', STRING, 'zysong212/DepthMaster', 'Model directory or hub repo id (must already be in the local cache).', **_FIXED),
        _p('model_sha256', STRING, '', "sha256 of the model directory's files (`depthmaster-ros security model-sha256 DIR` prints it); the files are hashed and compared before anything is loaded. Empty = not checked.", **_FIXED),
        _p('device', STRING, 'auto', 'Torch device; auto = cuda when available, else cpu.', allowed=('auto', 'cuda', 'cpu'), **_FIXED),
        _p('dtype', STRING, 'auto', 'Inference dtype; auto = bf16 on cuda, fp32 on cpu.', allowed=('auto', 'fp32', 'fp16', 'bf16'), **_FIXED),
        _p('processing_res', INTEGER, 768, 'Longer image edge fed to the model, pixels; 0 = native size.', range=(0, 4096)),
        _p('compile', STRING, 'off', 'torch.compile mode of the VAE and UNet (depthmaster backend); every image size, processing resolution and batch size compiles once, on its first frame or in warm_up_sizes at start.', choices_from='depthmaster_ros.model.backends:compile_choices', **_FIXED),
        _p('warm_up_sizes', STRING_ARRAY, [], "Image sizes 'WIDTHxHEIGHT' run through the model at start, at processing_res and every batch size up to the number of cameras, so the first real frame pays no compilation or kernel selection; the time is logged and reported on /diagnostics. Empty = no warm-up.", **_FIXED),
        _p('marigold_steps', INTEGER, 4, 'Denoising steps (marigold backend only).', range=(1, 50), **_FIXED),
        _p('marigold_ensemble_size', INTEGER, 1, 'Ensemble members per frame (marigold backend only).', range=(1, 20), **_FIXED),
    ),
    # input
    *_section(
        'input',
        _p('image_transport', STRING, 'raw', 'Subscribe to image (raw) or image/compressed (compressed).', allowed=('raw', 'compressed'), **_FIXED),
        _p('max_pixels', INTEGER, 8_000_000, 'Images with more pixels are refused.', range=(1, 100_000_000)),
        _p('camera_info_timeout_s', DOUBLE, 5.0, 'How long an image waits for the camera_info of its stamp before it gets relative depth only, seconds.', range=(0.0, 600.0)),
        _p('camera_info_slop_s', DOUBLE, 0.0, 'Largest stamp difference between an image and its camera_info, seconds; 0 = the same stamp, as image_transport camera subscribers require.', range=(0.0, 0.5)),
    ),
    # alignment
    *_section(
        'alignment',
        _p('alignment_mode', STRING, 'lidar', 'How relative depth becomes metres.', choices_from='depthmaster_ros.alignment.modes:mode_names'),
        _p('alignment_method', STRING, 'local', 'global: one scale and shift; local: plus a per-neighbourhood correction that follows the prediction\'s edges (global where samples are sparse).', allowed=('global', 'local')),
        _p('min_depth', DOUBLE, 0.1, 'Nearest valid depth, metres.', range=(0.0, 1000.0)),
        _p('max_depth', DOUBLE, 80.0, 'Farthest valid depth, metres.', range=(0.01, 10000.0)),
        _p('min_points', INTEGER, 20, 'Fewest sparse depth samples for a fit.', range=(2, 1_000_000)),
        _p('max_cloud_age_s', DOUBLE, 0.2, 'Oldest cloud, relative to the image stamp, used for alignment, seconds.', range=(0.0, 10.0)),
        _p('cloud_future_tolerance_s', DOUBLE, 0.05, 'Newest cloud after the image stamp still used, seconds.', range=(0.0, 10.0)),
        _p('lidar_to_camera', DOUBLE_ARRAY, [], 'Fallback LiDAR-to-camera-optical transform [x, y, z, qx, qy, qz, qw] when TF has none; empty = require TF.', lengths=(0, 7)),
        _p('lidar_frame', STRING, '', 'The cloud frame_id that lidar_to_camera belongs to; clouds of other frames need TF. Required with lidar_to_camera.'),
        _p('use_tf', BOOL, True, 'Look transforms up in /tf and /tf_static before the fallbacks.'),
        _p('occlusion_window_px', INTEGER, 15, 'Largest window of the LiDAR occlusion filter, pixels; the window itself spans 1.5 scan-line gaps measured in the projected cloud, and only returns with neighbours at their depth occlude; 0 = off.', range=(0, 63)),
        _p('occlusion_rel_threshold', DOUBLE, 0.1, 'A LiDAR sample this much (relative) behind its window minimum is occluded.', range=(0.0, 10.0)),
        _p('temporal_smoothing', DOUBLE, 0.3, 'Weight of the previous fit when smoothing scale/shift; 0 = none.', range=(0.0, 0.99)),
        _p('hold_s', DOUBLE, 1.0, 'How long the last good fit is held over a sensor dropout, seconds.', range=(0.0, 60.0)),
        _p('fixed_scale', DOUBLE, 1.0, "Scale in fixed mode, in the model's space, not metres: depth = 1 / (scale * p + shift)^2 for DepthMaster's sqrt disparity p, scale * p + shift for Marigold's depth. Copy scale from a good depth/alignment record (ok, method global) of a LiDAR or ground-plane run of the same camera and model.", range=(-1e6, 1e6)),
        _p('fixed_shift', DOUBLE, 0.0, "Shift in fixed mode, in the model's space (see fixed_scale); copy shift from the same depth/alignment record.", range=(-1e6, 1e6)),
        _p('base_frame', STRING, 'base_footprint', 'Robot frame whose z=0 plane is the floor (ground_plane mode; REP 120 base_footprint).'),
        _p('ground_plane_max_depth', DOUBLE, 10.0, 'Farthest floor distance used as virtual sparse depth in ground_plane mode, metres.', range=(0.5, 1000.0)),
        _p('camera_height_m', DOUBLE, 1.0, 'Camera height above the floor when TF has no base_frame, metres.', range=(0.01, 100.0)),
        _p('camera_pitch_rad', DOUBLE, 0.0, 'Camera pitch down from horizontal when TF has no base_frame, radians.', range=(-1.5, 1.5)),
        _p('camera_roll_rad', DOUBLE, 0.0, 'Camera roll when TF has no base_frame, radians.', range=(-1.5, 1.5)),
    ),
    # output
    *_section(
        'output',
        _p('output_geometry', STRING, 'rectified', 'Depth of a distorted camera: rectified (pinhole, depth/camera_info with D = 0 and K from P) or raw (the image geometry, D passed through).', allowed=('rectified', 'raw')),
        _p('output_resolution', STRING, 'input', 'Publish depth at the input image size or at the processing size.', allowed=('input', 'processing')),
        _p('publish_relative', BOOL, True, 'Publish depth/relative (model space).'),
        _p('publish_confidence', BOOL, True, "Publish depth/confidence (0..1): the alignment confidence from the LiDAR or ground-plane samples, times the model's own confidence where it gives one (Marigold ensembles)."),
        _p('publish_depth_mm', BOOL, False, 'Also publish depth/image_mm (16UC1 millimetres).'),
        _p('publish_cloud', BOOL, True, 'Publish the points cloud.'),
        _p('cloud_stride', INTEGER, 4, 'Pixel stride of the published cloud.', range=(1, 64)),
        _p('cloud_organized', BOOL, False, 'Publish an organised (h x w, NaN holes) cloud instead of valid points only.'),
        _p('cloud_rgb', BOOL, True, 'Add packed rgb colours to the cloud.'),
        _p('cloud_max_points', INTEGER, 2_000_000, 'Clouds with more points are not published.', range=(1, 100_000_000)),
    ),
    # navigation outputs (depthmaster_ros.navigation)
    *_section(
        'navigation',
        _p('publish_scan', BOOL, False, 'Publish depth/scan (LaserScan in scan_frame) from accepted metres.'),
        _p('publish_obstacles', BOOL, False, 'Publish depth/obstacles (PointCloud2 xyz in obstacle_frame): metres without flying pixels, low-confidence pixels, far points or points outside the height band, one point per voxel.'),
        _p('scan_frame', STRING, 'base_link', 'Frame of depth/scan (z up); its z = 0 plane is where the heights of both outputs are measured from. From TF, else the camera_height_m / camera_pitch_rad / camera_roll_rad fallback.'),
        _p('scan_angle_min', DOUBLE, 0.0, 'First scan angle in scan_frame, radians; equal to scan_angle_max (both 0 by default) = the camera field of view.', range=(-math.pi, math.pi)),
        _p('scan_angle_max', DOUBLE, 0.0, 'Last scan angle in scan_frame, radians; see scan_angle_min.', range=(-math.pi, math.pi)),
        _p('scan_angle_increment', DOUBLE, 0.005, 'Angle between scan beams, radians.', range=(0.0005, 0.2)),
        _p('scan_range_min', DOUBLE, 0.1, 'Nearest range a scan bin reports, metres (nearer points are ignored, as pointcloud_to_laserscan does).', range=(0.0, 100.0)),
        _p('scan_range_max', DOUBLE, 8.0, 'Farthest range a scan bin reports, metres; bins that saw valid depth but nothing in the band within range are +inf (REP 117).', range=(0.1, 1000.0)),
        _p('scan_min_height', DOUBLE, 0.05, 'Lowest point height in scan_frame that enters the scan, metres.', range=(-100.0, 100.0)),
        _p('scan_max_height', DOUBLE, 1.2, 'Highest point height in scan_frame that enters the scan, metres.', range=(-100.0, 100.0)),
        _p('scan_merge', BOOL, False, "With several cameras: one depth/scan in the node's namespace over every camera's newest frame instead of one per camera."),
        _p('obstacle_frame', STRING, '', "Frame of depth/obstacles; empty = the camera's optical frame (what a depth-camera frustum expects)."),
        _p('obstacle_min_confidence', DOUBLE, 0.0, 'Pixels whose depth/confidence is below this are left out of both outputs; 0 = off (the default: the alignment confidence is low on obstacles far from every LiDAR or floor sample, exactly where they must be marked).', range=(0.0, 1.0)),
        _p('obstacle_edge_threshold', DOUBLE, 0.05, 'A pixel whose depth jumps by more than this (relative) to a neighbour lies on a depth discontinuity (a flying pixel) and is left out of both outputs; 0 = off.', range=(0.0, 10.0)),
        _p('obstacle_max_range', DOUBLE, 5.0, 'Farthest obstacle point from the camera, metres.', range=(0.1, 1000.0)),
        _p('obstacle_min_height', DOUBLE, 0.05, 'Lowest obstacle point height in scan_frame, metres.', range=(-100.0, 100.0)),
        _p('obstacle_max_height', DOUBLE, 1.2, 'Highest obstacle point height in scan_frame, metres.', range=(-100.0, 100.0)),
        _p('obstacle_voxel_m', DOUBLE, 0.05, 'Voxel edge of the obstacle cloud, metres: each voxel keeps its point nearest to the camera; 0 = no downsampling.', range=(0.0, 10.0)),
    ),
    # transport and housekeeping
    *_section(
        'node',
        _p('input_qos_depth', INTEGER, 5, 'History depth of the input subscriptions.', range=(1, 100), **_FIXED),
        _p('input_reliability', STRING, 'best_effort', 'Reliability of the image, camera_info and points subscriptions.', allowed=('best_effort', 'reliable'), **_FIXED),
        _p('output_reliability', STRING, 'reliable', 'Reliability of the outputs (reliable: large messages survive default Fast DDS).', allowed=('reliable', 'best_effort'), **_FIXED),
        _p('diagnostics_period_s', DOUBLE, 1.0, 'Period of /diagnostics, seconds.', range=(0.1, 60.0), **_FIXED),
        _p('lazy', BOOL, True, 'Run no inference while nothing subscribes to any depth output.'),
        _p('log_throttle_s', DOUBLE, 5.0, 'Minimum interval between repeats of one warning, seconds.', range=(0.0, 3600.0)),
        _p('frames_in_flight', INTEGER, 3, 'Frames between the start of the model forward and the end of publishing or writing: 3 runs the forward of one frame, the host work of the one before (fit, cloud) and the publishing or writing of the one before that at once; 2 overlaps the forward with the rest; 1 runs them in turn (node and bag tool).', range=(1, 3), **_FIXED),
        _p('cameras', STRING_ARRAY, [], "Camera namespaces this node serves, e.g. [front, left]: each has its own image, camera_info and depth outputs under its namespace, and its newest frame wins independently; frames of the same size share one batched model forward. The points topic stays one for all cameras (extrinsics from TF). Empty = one camera, topics in the node's namespace.", **_FIXED),
    ),
)

# DOUBLE_ARRAY parameters holding [x, y, z, qx, qy, qz, qw]; their quaternion must have unit norm.
TRANSFORM_PARAMETERS = frozenset({'lidar_to_camera'})
QUATERNION_NORM_TOLERANCE = 1e-3

BY_NAME = {spec.name: spec for spec in PARAMETERS}


def defaults() -> dict[str, ParameterValue]:
    """A fresh dict of every default (lists copied so callers may change them)."""
    return {spec.name: (spec.default.copy() if isinstance(spec.default, list) else spec.default) for spec in PARAMETERS}


def validate(name: str, value: object) -> ParameterValue:
    """Return value in its canonical Python type, or raise ValueError naming the parameter."""
    spec = BY_NAME.get(name)
    if spec is None:
        raise ConfigError(f'unknown parameter {name!r}')
    if spec.type == STRING:
        if not isinstance(value, str):
            raise ConfigError(f'parameter {name!r} must be a string, got {value!r}')
        choices = spec.choices
        if choices and value not in choices:
            raise ConfigError(f'parameter {name!r} must be one of {", ".join(choices)}; got {value!r}')
        return value
    if spec.type == BOOL:
        if not isinstance(value, bool):
            raise ConfigError(f'parameter {name!r} must be true or false, got {value!r}')
        return value
    if spec.type == INTEGER:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f'parameter {name!r} must be an integer, got {value!r}')
        _check_range(spec, value)
        return int(value)
    if spec.type == DOUBLE:
        value = _as_float(name, value)
        _check_range(spec, value)
        return value
    if spec.type == DOUBLE_ARRAY:
        if value is None:       # an empty YAML list reaches rclpy as "not set"
            value = []
        if isinstance(value, (str, bytes)) or not hasattr(value, '__len__'):
            raise ConfigError(f'parameter {name!r} must be a list of numbers, got {value!r}')
        values = [_as_float(name, v) for v in cast(Iterable[object], value)]   # a list or an array.array
        if spec.lengths and len(values) not in spec.lengths:
            raise ConfigError(f'parameter {name!r} must have {" or ".join(map(str, spec.lengths))} values, got {len(values)}')
        if name in TRANSFORM_PARAMETERS and values:
            _check_unit_quaternion(name, values[3:])
        return values
    if spec.type == STRING_ARRAY:
        if value is None:
            value = []
        if isinstance(value, (str, bytes)) or not hasattr(value, '__len__') \
                or not all(isinstance(v, str) for v in cast(Iterable[object], value)):
            raise ConfigError(f'parameter {name!r} must be a list of strings, got {value!r}')
        strings = list(cast(Iterable[str], value))
        if len(set(strings)) != len(strings):
            raise ConfigError(f'parameter {name!r} names an entry twice: {strings}')
        for entry in strings:
            STRING_ARRAY_RULES[name](name, entry)
        return strings
    raise AssertionError(f'parameter {name!r} has unknown table type {spec.type!r}')


_NAMESPACE = re.compile(r'/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*')
_IMAGE_SIZE = re.compile(r'([1-9][0-9]{0,4})x([1-9][0-9]{0,4})')


def _check_namespace(name: str, entry: str) -> None:
    if not _NAMESPACE.fullmatch(entry):
        raise ConfigError(f'parameter {name!r}: {entry!r} is not a ROS namespace (letters, digits and _, '
                          "tokens separated by '/', each starting with a letter, e.g. 'front' or 'cameras/left')")


def _check_image_size(name: str, entry: str) -> None:
    if not _IMAGE_SIZE.fullmatch(entry):
        raise ConfigError(f"parameter {name!r}: {entry!r} is not an image size 'WIDTHxHEIGHT' such as '640x480'")


STRING_ARRAY_RULES = {'cameras': _check_namespace, 'warm_up_sizes': _check_image_size}


def image_size(entry: str) -> tuple[int, int]:
    """(width, height) of a validated 'WIDTHxHEIGHT' entry."""
    width, height = entry.split('x')
    return int(width), int(height)


def _check_unit_quaternion(name: str, quaternion: list[float]) -> None:
    norm = math.sqrt(sum(q * q for q in quaternion))
    if abs(norm - 1.0) > QUATERNION_NORM_TOLERANCE:
        raise ConfigError(f'parameter {name!r}: the quaternion [qx, qy, qz, qw] = {quaternion} has norm {norm:.6g}; '
                          'it must be a unit quaternion (norm 1, e.g. [0, 0, 0, 1] for no rotation)')


def _as_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f'parameter {name!r} must be a number, got {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f'parameter {name!r} must be finite, got {value!r}')
    return value


def _check_range(spec: ParameterSpec, value: float) -> None:
    if spec.range is not None:
        low, high = spec.range
        if not low <= value <= high:
            raise ConfigError(f'parameter {spec.name!r} must be in [{low}, {high}], got {value!r}')


def validate_all(params: Mapping[str, object]) -> dict[str, ParameterValue]:
    """Validate a whole dict (unknown names refused) and check the cross-parameter rules."""
    checked = {name: validate(name, value) for name, value in params.items()}
    merged: dict[str, Any] = {**defaults(), **checked}
    if merged['min_depth'] >= merged['max_depth']:
        raise ConfigError(f'parameter min_depth ({merged["min_depth"]}) must be below max_depth ({merged["max_depth"]})')
    if merged['lidar_to_camera'] and not merged['lidar_frame']:
        raise ConfigError("parameter 'lidar_to_camera' is set but 'lidar_frame' is empty: set lidar_frame to the "
                          'frame_id of the clouds this transform belongs to')
    if merged['lidar_to_camera'] and len(merged['cameras']) > 1:
        raise ConfigError(f"parameter 'lidar_to_camera' is one camera's extrinsic but 'cameras' names "
                          f"{len(merged['cameras'])}: publish each camera's extrinsic on /tf (use_tf: true) and leave "
                          'lidar_to_camera empty')
    for low, high in (('scan_min_height', 'scan_max_height'), ('obstacle_min_height', 'obstacle_max_height'),
                      ('scan_range_min', 'scan_range_max')):
        if merged[low] >= merged[high]:
            raise ConfigError(f'parameter {low} ({merged[low]}) must be below {high} ({merged[high]})')
    if merged['scan_angle_min'] > merged['scan_angle_max']:
        raise ConfigError(f"parameter scan_angle_min ({merged['scan_angle_min']}) must not be above scan_angle_max "
                          f"({merged['scan_angle_max']}); set both equal for the camera's field of view")
    return checked


def parameters_markdown_table() -> str:
    """The README parameters table, generated so the docs cannot drift from the code."""
    lines = ['| name | type | default | range / choices | runtime | description |',
             '|---|---|---|---|---|---|']
    for spec in PARAMETERS:
        if spec.choices:
            allowed = ' \\| '.join(spec.choices)
        elif spec.range is not None:
            allowed = f'{_fmt(spec.range[0])} … {_fmt(spec.range[1])}'
        elif spec.lengths:
            allowed = 'length ' + ' or '.join(map(str, spec.lengths))
        else:
            allowed = ''
        lines.append(f'| `{spec.name}` | {spec.type} | `{_fmt(spec.default)}` | {allowed} | '
                     f'{"yes" if spec.runtime else "no (restart)"} | {spec.description} |')
    return '\n'.join(lines) + '\n'


def _fmt(value: ParameterValue | None) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value) if isinstance(value, (list, float)) else str(value)
