"""Checked field values for the message builders, shared by the rclpy and rosbags adapters.

Both adapters need the same lengths, types and ranges, so values are checked once here and errors
name the message field rather than surfacing as an assertion inside a generated message class.
"""
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmaster_ros.conversions.buffers import require_int

from .errors import ConversionError

if TYPE_CHECKING:
    from depthmaster_ros.alignment import AlignmentRecord

_MATRIX_SIZES = {'k': 9, 'r': 9, 'p': 12}
_ROI_FIELDS = ('x_offset', 'y_offset', 'height', 'width', 'do_rectify')
KNOWN_FIELDS = ('height', 'width', 'distortion_model', 'd', 'k', 'r', 'p', 'binning_x', 'binning_y', 'roi')


def _floats(value, name: str, size: int | None) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ConversionError(f'CameraInfo.{name} must be a sequence of numbers, got {value!r}') from None
    if size is not None and array.size != size:
        raise ConversionError(f'CameraInfo.{name} must have {size} elements, got {array.size}')
    return array


def camera_info_values(fields: dict) -> dict:
    """Normalised CameraInfo values: ints, a str, float64 arrays d/k/r/p, and a roi dict.

    Missing matrices default to zeros (r to identity); an unknown key raises ValueError.
    """
    unknown = sorted(set(fields) - set(KNOWN_FIELDS))
    if unknown:
        raise ConversionError(f'CameraInfo has no field(s) {", ".join(unknown)}; fields: {", ".join(KNOWN_FIELDS)}')
    model = fields.get('distortion_model', '')
    if not isinstance(model, str):
        raise ConversionError(f'CameraInfo.distortion_model must be a string, got {model!r}')
    roi = dict(fields.get('roi') or {})
    unknown_roi = sorted(set(roi) - set(_ROI_FIELDS))
    if unknown_roi:
        raise ConversionError(f'CameraInfo.roi has no field(s) {", ".join(unknown_roi)}')
    values = {
        'height': require_int(fields.get('height', 0), 'CameraInfo.height'),
        'width': require_int(fields.get('width', 0), 'CameraInfo.width'),
        'distortion_model': model,
        'd': _floats(fields.get('d', ()), 'd', None),
        'k': _floats(fields.get('k', np.zeros(9)), 'k', 9),
        'r': _floats(fields.get('r', np.eye(3)), 'r', 9),
        'p': _floats(fields.get('p', np.zeros(12)), 'p', 12),
        'binning_x': require_int(fields.get('binning_x', 0), 'CameraInfo.binning_x'),
        'binning_y': require_int(fields.get('binning_y', 0), 'CameraInfo.binning_y'),
        'roi': {name: require_int(roi.get(name, 0), f'CameraInfo.roi.{name}') for name in _ROI_FIELDS[:4]},
    }
    values['roi']['do_rectify'] = bool(roi.get('do_rectify', False))  # type: ignore[index]
    return values


_NS_PER_S = 1_000_000_000
_INT32_MIN, _INT32_MAX = -2**31, 2**31 - 1
_UINT32_MAX = 2**32 - 1


def split_stamp_ns(ns: int) -> tuple[int, int]:
    """(sec, nanosec) of builtin_interfaces/Time for ``ns``; ValueError when sec does not fit int32."""
    sec, nanosec = divmod(require_int(ns, 'stamp', minimum=-2**63), _NS_PER_S)
    if not _INT32_MIN <= sec <= _INT32_MAX:
        raise ConversionError(f'stamp ({ns} ns) does not fit builtin_interfaces/Time (int32 seconds)')
    return sec, nanosec


def stamp_to_ns(stamp: Any) -> int:
    """Nanoseconds from a builtin_interfaces/Time (rclpy or rosbags)."""
    return int(stamp.sec) * _NS_PER_S + int(stamp.nanosec)


def check_frame_id(frame_id: object) -> str:
    if not isinstance(frame_id, str):
        raise ConversionError(f'Header.frame_id must be a string, got {frame_id!r}')
    return frame_id

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# DepthAlignment fields declared float32 (the rest of the floats are float64).
_FLOAT32_FIELDS = ('rmse_m', 'fit_age_s', 'inference_time_s', 'alignment_time_s')


def alignment_values(record: 'AlignmentRecord') -> dict:
    """The AlignmentRecord's message fields as DepthAlignment values (header aside), typed and range-checked."""
    from depthmaster_ros.alignment import message_fields
    values = {}
    for field in message_fields():
        name, value = field.name, getattr(record, field.name)
        kind = field.type if isinstance(field.type, type) else {'str': str, 'bool': bool, 'int': int,
                                                                'float': float}[field.type]
        label = f'DepthAlignment.{name}'
        if kind is str:
            if not isinstance(value, str):
                raise ConversionError(f'{label} must be a string, got {value!r}')
        elif kind is bool:
            value = bool(value)
        elif kind is int:
            value = require_int(value, label)
            if value > _UINT32_MAX:
                raise ConversionError(f'{label} ({value}) does not fit uint32')
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ConversionError(f'{label} must be a number, got {value!r}') from None
            if name in _FLOAT32_FIELDS and math.isfinite(value) and abs(value) > _FLOAT32_MAX:
                raise ConversionError(f'{label} ({value}) does not fit float32')
        values[name] = value
    return values


def laser_scan_values(scan: Any) -> dict[str, Any]:
    """sensor_msgs/LaserScan fields of a ``navigation.Scan``: floats, and the ranges as float32.

    time_increment and scan_time are 0: every beam comes from one image, exposed at once.
    """
    return {'angle_min': float(scan.angle_min), 'angle_max': float(scan.angle_max),
            'angle_increment': float(scan.angle_increment), 'time_increment': 0.0, 'scan_time': 0.0,
            'range_min': float(scan.range_min), 'range_max': float(scan.range_max),
            'ranges': np.ascontiguousarray(scan.ranges, np.float32)}
