"""The typed configuration: the parameter table's values in frozen, grouped dataclasses.

It is built once at an edge (rclpy parameters in the node, the params YAML and flags in the CLI) and
passed everywhere else, so no core module reads a raw parameter dict. Field names are the parameter
names, and each group holds exactly the table's parameters of that group (a test keeps them in step).
"""
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .table import ARRAY_TYPES, PARAMETERS, defaults, validate_all

# arrays are tuples in a (frozen, hashable) Config and lists in a parameter dict
ARRAY_NAMES = tuple(spec.name for spec in PARAMETERS if spec.type in ARRAY_TYPES)


@dataclass(frozen=True)
class ModelSettings:
    backend: str
    model: str
    device: str
    dtype: str
    processing_res: int
    compile: str
    warm_up_sizes: tuple[str, ...]
    marigold_steps: int
    marigold_ensemble_size: int


@dataclass(frozen=True)
class InputSettings:
    image_transport: str
    max_pixels: int
    camera_info_timeout_s: float
    camera_info_slop_s: float


@dataclass(frozen=True)
class AlignmentSettings:
    alignment_mode: str
    alignment_method: str
    min_depth: float
    max_depth: float
    min_points: int
    max_cloud_age_s: float
    cloud_future_tolerance_s: float
    lidar_to_camera: tuple[float, ...]
    lidar_frame: str
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


@dataclass(frozen=True)
class OutputSettings:
    output_geometry: str
    output_resolution: str
    publish_relative: bool
    publish_confidence: bool
    publish_depth_mm: bool
    publish_cloud: bool
    cloud_stride: int
    cloud_organized: bool
    cloud_rgb: bool
    cloud_max_points: int


@dataclass(frozen=True)
class NavigationSettings:
    publish_scan: bool
    publish_obstacles: bool
    scan_frame: str
    scan_angle_min: float
    scan_angle_max: float
    scan_angle_increment: float
    scan_range_min: float
    scan_range_max: float
    scan_min_height: float
    scan_max_height: float
    scan_merge: bool
    obstacle_frame: str
    obstacle_min_confidence: float
    obstacle_edge_threshold: float
    obstacle_max_range: float
    obstacle_min_height: float
    obstacle_max_height: float
    obstacle_voxel_m: float


@dataclass(frozen=True)
class NodeSettings:
    input_qos_depth: int
    input_reliability: str
    output_reliability: str
    diagnostics_period_s: float
    lazy: bool
    log_throttle_s: float
    cameras: tuple[str, ...]


GROUPS: dict[str, type] = {'model': ModelSettings, 'input': InputSettings, 'alignment': AlignmentSettings,
                           'output': OutputSettings, 'navigation': NavigationSettings, 'node': NodeSettings}


@dataclass(frozen=True)
class Config:
    """Every parameter, validated, grouped by concern."""
    model: ModelSettings
    input: InputSettings
    alignment: AlignmentSettings
    output: OutputSettings
    navigation: NavigationSettings
    node: NodeSettings

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None = None) -> 'Config':
        """Validate a parameter dict (missing names take the table default); ValueError names the field."""
        values: dict[str, Any] = {**defaults(), **validate_all(dict(params or {}))}
        for name in ARRAY_NAMES:
            values[name] = tuple(values[name])
        groups: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
        for spec in PARAMETERS:
            groups[spec.group][spec.name] = values[spec.name]
        return cls(**{group: GROUPS[group](**groups[group]) for group in GROUPS})

    def to_params(self) -> dict[str, Any]:
        """The flat parameter dict (lists for arrays, as rclpy and YAML hold them)."""
        params: dict[str, Any] = {}
        for group in GROUPS:
            params.update(asdict(getattr(self, group)))
        for name in ARRAY_NAMES:
            params[name] = list(params[name])
        return params

    def replace(self, **params: Any) -> 'Config':
        """A copy with some parameters changed, validated together with the rest."""
        return Config.from_params({**self.to_params(), **params})


def group_fields() -> dict[str, tuple[str, ...]]:
    """Field names per group, for the check that the dataclasses and the table agree."""
    return {group: tuple(f.name for f in fields(cls)) for group, cls in GROUPS.items()}
