"""sensor_msgs/PointCloud2 pack/unpack for any field layout, with sensor_msgs_py's names and offsets.

sensor_msgs_py does not install from a package registry here, so the layout is written out: each
point is a record of ``point_step`` bytes holding the fields at their offsets, rows are ``row_step``
bytes apart. Our clouds use the layouts RViz, Foxglove and depth_image_proc read: xyz FLOAT32 at
offsets 0, 4, 8 (point_step 12), and xyzrgb with ``rgb`` FLOAT32 at 12 (point_step 16) holding the
bits of 0x00RRGGBB, as PCL packs it. Functions are duck-typed over message objects.
"""
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.conversions.buffers import ImplausibleSize, byte_view, require_int

from .errors import ConversionError

# PointField datatype constants -> numpy scalar type.
INT8, UINT8, INT16, UINT16, INT32, UINT32, FLOAT32, FLOAT64 = range(1, 9)
DATATYPES: dict[int, np.dtype] = {
    INT8: np.dtype(np.int8), UINT8: np.dtype(np.uint8), INT16: np.dtype(np.int16),
    UINT16: np.dtype(np.uint16), INT32: np.dtype(np.int32), UINT32: np.dtype(np.uint32),
    FLOAT32: np.dtype(np.float32), FLOAT64: np.dtype(np.float64),
}
_DATATYPE_NAMES = {INT8: 'INT8', UINT8: 'UINT8', INT16: 'INT16', UINT16: 'UINT16', INT32: 'INT32',
                   UINT32: 'UINT32', FLOAT32: 'FLOAT32', FLOAT64: 'FLOAT64'}


@dataclass(frozen=True)
class FieldSpec:
    """One sensor_msgs/PointField."""
    name: str
    offset: int
    datatype: int
    count: int = 1


XYZ_FIELDS = (FieldSpec('x', 0, FLOAT32), FieldSpec('y', 4, FLOAT32), FieldSpec('z', 8, FLOAT32))
XYZRGB_FIELDS = XYZ_FIELDS + (FieldSpec('rgb', 12, FLOAT32),)


@dataclass(frozen=True)
class CloudFields:
    """The fields of a sensor_msgs/PointCloud2 (header aside), ready for either message adapter."""
    height: int
    width: int
    fields: tuple[FieldSpec, ...]
    is_bigendian: bool
    point_step: int
    row_step: int
    data: bytes
    is_dense: bool


def _field_specs(fields) -> tuple[FieldSpec, ...]:
    """FieldSpecs from PointField-like objects, each field checked and named in errors."""
    specs = []
    for index, field in enumerate(fields):
        name = getattr(field, 'name', None)
        label = f'PointCloud2.fields[{index}] ({name!r})'
        if not isinstance(name, str) or not name:
            raise ConversionError(f'{label}.name must be a non-empty string')
        datatype = require_int(field.datatype, f'{label}.datatype')
        if datatype not in DATATYPES:
            raise ConversionError(f'{label}.datatype ({datatype}) is not a PointField datatype (1..8)')
        specs.append(FieldSpec(name, require_int(field.offset, f'{label}.offset'), datatype,
                               require_int(field.count, f'{label}.count', minimum=1)))
    names = [spec.name for spec in specs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConversionError(f'PointCloud2.fields repeats the name(s) {", ".join(duplicates)}')
    return tuple(specs)


def cloud_dtype(fields: Iterable[Any], point_step: int, is_bigendian: bool = False) -> np.dtype:
    """The structured dtype of one point: fields at their offsets, itemsize ``point_step``."""
    specs = _field_specs(fields)
    point_step = require_int(point_step, 'PointCloud2.point_step')
    formats = []
    for spec in specs:
        scalar = DATATYPES[spec.datatype].newbyteorder('>' if is_bigendian else '<')
        extent = spec.offset + scalar.itemsize * spec.count
        if extent > point_step:
            raise ImplausibleSize(
                f'PointCloud2.point_step ({point_step}) is smaller than the extent of field {spec.name!r} '
                f'(offset {spec.offset} + {scalar.itemsize * spec.count} bytes = {extent})')
        formats.append(scalar if spec.count == 1 else np.dtype((scalar, (spec.count,))))
    return np.dtype({'names': [spec.name for spec in specs], 'formats': formats,
                     'offsets': [spec.offset for spec in specs], 'itemsize': point_step})


def _structure(dtype: np.dtype) -> tuple[tuple[str, ...], Any]:
    """(names, fields) of a structured dtype (both always present for the dtypes built here)."""
    assert dtype.names is not None and dtype.fields is not None
    return dtype.names, dtype.fields


def _native(dtype: np.dtype) -> np.dtype:
    names, fields = _structure(dtype)
    return np.dtype({'names': list(names),
                     'formats': [fields[name][0].newbyteorder('=') for name in names],
                     'offsets': [fields[name][1] for name in names],
                     'itemsize': dtype.itemsize})


def read_points(msg: Any, field_names: str | Iterable[str] | None = None, skip_nans: bool = False) -> np.ndarray:
    """The points as a flat structured array (height*width records, row order, native byte order).

    A read-only view of the message buffer when rows are unpadded and the data is native-endian.
    ``field_names`` selects fields; ``skip_nans`` drops points with NaN in a selected float field.
    """
    height = require_int(msg.height, 'PointCloud2.height')
    width = require_int(msg.width, 'PointCloud2.width')
    point_step = require_int(msg.point_step, 'PointCloud2.point_step')
    row_step = require_int(msg.row_step, 'PointCloud2.row_step')
    dtype = cloud_dtype(msg.fields, point_step, bool(msg.is_bigendian))
    names, fields = _structure(dtype)
    if field_names is not None:
        field_names = [field_names] if isinstance(field_names, str) else list(field_names)
        missing = [name for name in field_names if name not in names]
        if missing:
            raise ConversionError(f'PointCloud2.fields has no field {", ".join(map(repr, missing))} '
                                  f'(it has {", ".join(names) or "none"})')
    if height * width and point_step == 0:
        raise ImplausibleSize('PointCloud2.point_step is 0 for a cloud with points')
    if row_step < point_step * width:
        raise ImplausibleSize(f'PointCloud2.row_step ({row_step}) is smaller than point_step*width '
                              f'({point_step}*{width} = {point_step * width})')
    buffer = byte_view(msg.data, 'PointCloud2.data')
    if buffer.size < row_step * height:
        raise ImplausibleSize(f'PointCloud2.data has {buffer.size} bytes, fewer than row_step*height '
                              f'({row_step}*{height} = {row_step * height})')
    if height * width == 0:
        points = np.zeros(0, dtype=dtype)
    else:
        grid = np.ndarray((height, width), dtype=dtype, buffer=buffer, strides=(row_step, point_step))
        points = grid.reshape(-1)
    if not all(fields[name][0].isnative for name in names):
        points = points.astype(_native(dtype))
    if field_names is not None:
        points = points[field_names]
    if skip_nans and points.size:
        keep = np.ones(points.shape[0], dtype=bool)
        for name in _structure(points.dtype)[0]:
            values = points[name].reshape(points.shape[0], -1)      # count > 1 fields have columns
            if values.dtype.kind == 'f':
                for column in range(values.shape[1]):
                    keep &= ~np.isnan(values[:, column])
        if not keep.all():
            points = points.take(np.flatnonzero(keep))
    if np.may_share_memory(points, buffer):
        points.flags.writeable = False
    return points


def read_xyz(msg: Any, skip_nans: bool = True) -> np.ndarray:
    """(N, 3) float32 x, y, z; with ``skip_nans`` points with any non-finite coordinate are dropped."""
    specs = {spec.name: spec for spec in _field_specs(msg.fields)}
    cloud_dtype(specs.values(), msg.point_step)      # a layout that lies is refused before the field check
    for name in ('x', 'y', 'z'):
        if name not in specs:
            raise ConversionError(f'PointCloud2.fields has no {name!r} field (it has {", ".join(specs) or "none"})')
        spec = specs[name]
        if spec.datatype not in (FLOAT32, FLOAT64) or spec.count != 1:
            raise ConversionError(f'PointCloud2.fields {name!r} is {_DATATYPE_NAMES[spec.datatype]} with count '
                                  f'{spec.count}; x, y and z must be single FLOAT32 or FLOAT64 values')
    points = read_points(msg, ('x', 'y', 'z'))
    xyz = np.empty((points.shape[0], 3), dtype=np.float32)
    for column, name in enumerate(('x', 'y', 'z')):
        xyz[:, column] = points[name]
    if skip_nans:
        keep = _all_finite_rows(xyz)
        if not keep.all():
            xyz = xyz.take(np.flatnonzero(keep), axis=0)    # 6x faster than boolean row indexing
    return xyz


def _all_finite_rows(values: np.ndarray) -> np.ndarray:
    """Rows of a 2-D array with only finite values; column by column, ~15x faster than .all(axis=1)."""
    keep = np.ones(values.shape[0], dtype=bool)
    for column in range(values.shape[1]):
        keep &= np.isfinite(values[:, column])
    return keep


def _fields_from_dtype(dtype: np.dtype) -> tuple[FieldSpec, ...]:
    by_scalar = {scalar: datatype for datatype, scalar in DATATYPES.items()}
    specs = []
    names, fields = _structure(dtype)
    for name in names:
        field_dtype, offset = fields[name][:2]
        scalar, shape = (field_dtype.base, field_dtype.shape) if field_dtype.subdtype else (field_dtype, ())
        datatype = by_scalar.get(scalar.newbyteorder('='))
        if datatype is None or len(shape) > 1:
            raise ConversionError(f'points field {name!r} has dtype {field_dtype}, which no PointField datatype holds')
        specs.append(FieldSpec(name, offset, datatype, shape[0] if shape else 1))
    return tuple(specs)


def create_cloud_fields(points: ArrayLike, fields: Iterable[Any] | None = None, *, point_step: int | None = None,
                        is_bigendian: bool = False, organized_shape: tuple[int, int] | None = None) -> CloudFields:
    """Pack ``points`` into PointCloud2 fields.

    ``points`` is a structured array (fields taken from its dtype unless ``fields`` is given, then
    matched by name) or a plain (..., K) numeric array whose columns fill ``fields`` in order.
    A 2-D structured array or a 3-D plain array, or ``organized_shape``, gives an organised cloud.
    ``point_step`` defaults to the fields' extent (the dtype's itemsize for structured input).
    """
    points = np.asarray(points)
    structured = points.dtype.names is not None
    if fields is None:
        if not structured:
            raise ConversionError('fields must be given for a plain (non-structured) points array')
        specs = _fields_from_dtype(points.dtype)
        point_step = points.dtype.itemsize if point_step is None else point_step
    else:
        specs = _field_specs(fields)
    if point_step is None:
        point_step = max((spec.offset + DATATYPES[spec.datatype].itemsize * spec.count for spec in specs), default=0)
    dtype = cloud_dtype(specs, point_step, is_bigendian)

    grid_shape = points.shape if structured else points.shape[:-1]
    if not structured and points.ndim < 2:
        raise ConversionError(f'points.shape {points.shape}: a plain array needs a last axis of field values')
    if len(grid_shape) not in (1, 2):
        raise ConversionError(f'points.shape {points.shape} must be (N,) / (H, W) records or (N, K) / (H, W, K) values')
    flat: np.ndarray = points.reshape(-1) if structured else points.reshape(-1, points.shape[-1])
    if organized_shape is not None:
        height, width = (require_int(size, 'organized_shape') for size in organized_shape)
        if height * width != flat.shape[0]:
            raise ConversionError(f'organized_shape {tuple(organized_shape)} holds {height * width} points, '
                                  f'points has {flat.shape[0]}')
    else:
        height, width = grid_shape if len(grid_shape) == 2 else (1, grid_shape[0])

    packed = np.zeros(flat.shape[0], dtype=dtype)
    if structured:
        names = _structure(points.dtype)[0]
        for spec in specs:
            if spec.name not in names:
                raise ConversionError(f'points has no field {spec.name!r} (it has {", ".join(names)})')
            values = flat[spec.name]
            per_point = int(np.prod(values.shape[1:]))
            if per_point != spec.count:
                raise ConversionError(f'points field {spec.name!r} has {per_point} values per point, '
                                      f'its PointField count is {spec.count}')
            packed[spec.name] = values.reshape(packed[spec.name].shape)
    else:
        columns = sum(spec.count for spec in specs)
        if flat.shape[1] != columns:
            raise ConversionError(f'points.shape {points.shape}: last axis has {flat.shape[1]} values, '
                                  f'fields need {columns}')
        column = 0
        for spec in specs:
            values = flat[:, column:column + spec.count]
            packed[spec.name] = values.reshape(packed[spec.name].shape)
            column += spec.count
    dense = all(np.isfinite(packed[spec.name]).all() for spec in specs if DATATYPES[spec.datatype].kind == 'f')
    return CloudFields(height=int(height), width=int(width), fields=specs, is_bigendian=bool(is_bigendian),
                       point_step=int(point_step), row_step=int(point_step * width), data=packed.tobytes(),
                       is_dense=bool(dense))


def pack_rgb(r: ArrayLike, g: ArrayLike, b: ArrayLike) -> np.ndarray:
    """float32 values whose bits are 0x00RRGGBB, the ``rgb`` field PCL and RViz read."""
    r, g, b = (np.asarray(channel).astype(np.uint32) & 0xFF for channel in (r, g, b))
    return np.asarray((r << 16) | (g << 8) | b, dtype=np.uint32).view(np.float32)


def unpack_rgb(rgb: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, g, b) uint8 from packed float32 ``rgb`` values (the inverse of ``pack_rgb``)."""
    bits = np.ascontiguousarray(rgb, dtype=np.float32).view(np.uint32)
    return ((bits >> 16) & 0xFF).astype(np.uint8), ((bits >> 8) & 0xFF).astype(np.uint8), (bits & 0xFF).astype(np.uint8)


def xyz_cloud_fields(xyz: ArrayLike, rgb: ArrayLike | None = None) -> CloudFields:
    """An xyz (point_step 12) or xyzrgb (point_step 16) cloud; organised when ``xyz`` is (H, W, 3)."""
    xyz = np.asarray(xyz)
    if xyz.ndim not in (2, 3) or xyz.shape[-1] != 3:
        raise ConversionError(f'xyz.shape {xyz.shape} must be (N, 3) or (H, W, 3)')
    if xyz.dtype.kind not in 'fiu':
        raise ConversionError(f'xyz.dtype {xyz.dtype} must be numeric')
    height, width = xyz.shape[:2] if xyz.ndim == 3 else (1, xyz.shape[0])
    flat = xyz.reshape(-1, 3)
    fields: tuple[FieldSpec, ...] = XYZ_FIELDS
    if rgb is None:
        columns = np.ascontiguousarray(flat, dtype='<f4')
    else:
        rgb = np.asarray(rgb)
        if rgb.shape != xyz.shape or rgb.dtype != np.uint8:
            raise ConversionError(f'rgb (shape {rgb.shape}, dtype {rgb.dtype}) must be uint8 with the shape of xyz '
                                  f'{xyz.shape}')
        colours = rgb.reshape(-1, 3)
        columns = np.empty((flat.shape[0], 4), dtype='<f4')
        for axis in range(3):                     # 1-D strided copies: far faster than one (N, 3) copy
            columns[:, axis] = flat[:, axis]
        columns[:, 3] = pack_rgb(colours[:, 0], colours[:, 1], colours[:, 2])
        fields = XYZRGB_FIELDS
    point_step = 4 * columns.shape[1]
    return CloudFields(height=int(height), width=int(width), fields=fields, is_bigendian=False,
                       point_step=point_step, row_step=point_step * int(width), data=columns.tobytes(),
                       is_dense=bool(_all_finite_rows(columns[:, :3]).all()))
