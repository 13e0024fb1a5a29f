"""PointCloud2 pack/unpack: sensor_msgs_py-compatible layouts, extra fields, padding, byte order."""
import numpy as np
import pytest

from depthmaster_ros.conversions import (
    FLOAT32,
    FLOAT64,
    INT8,
    UINT8,
    UINT16,
    CloudFields,
    FieldSpec,
    cloud_dtype,
    create_cloud_fields,
    pack_rgb,
    read_points,
    read_xyz,
    unpack_rgb,
    xyz_cloud_fields,
)

from fixtures_conversions import FLAVOURS, cloud_message

# A lidar-like layout: x y z, 4 bytes padding, intensity, ring, 1 byte flag, padding; point_step 32.
LIDAR_FIELDS = (('x', 0, FLOAT32, 1), ('y', 4, FLOAT32, 1), ('z', 8, FLOAT32, 1),
                ('intensity', 16, FLOAT32, 1), ('ring', 20, UINT16, 1), ('flag', 22, INT8, 1),
                ('t', 24, FLOAT64, 1))
LIDAR_STEP = 32


def _lidar_records(rng, count):
    return {'x': rng.normal(size=count).astype(np.float32), 'y': rng.normal(size=count).astype(np.float32),
            'z': rng.normal(size=count).astype(np.float32), 'intensity': rng.uniform(0, 255, count).astype(np.float32),
            'ring': rng.integers(0, 128, count).astype(np.uint16),
            'flag': rng.integers(-128, 128, count).astype(np.int8),
            't': rng.uniform(0, 0.1, count)}


def _lay_out(records, fields, point_step, height, width, row_step, big_endian, rng):
    """Cloud bytes built with struct-like slicing, point by point, independently of cloud_dtype."""
    order = '>' if big_endian else '<'
    scalar = {FLOAT32: 'f4', FLOAT64: 'f8', UINT16: 'u2', INT8: 'i1', UINT8: 'u1'}
    out = rng.integers(0, 256, size=(height, row_step), dtype=np.uint8)
    for index in range(height * width):
        row, column = divmod(index, width)
        base = column * point_step
        for name, offset, datatype, _ in fields:
            raw = np.asarray(records[name][index], dtype=order + scalar[datatype]).tobytes()
            out[row, base + offset:base + offset + len(raw)] = np.frombuffer(raw, np.uint8)
    return out.tobytes()


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize('big_endian', [False, True])
@pytest.mark.parametrize('height, width, row_padding', [(1, 9, 0), (3, 5, 0), (3, 5, 12), (1, 0, 0)])
def test_read_points_reads_any_layout(flavour, big_endian, height, width, row_padding):
    rng = np.random.default_rng(height * 100 + width + row_padding)
    records = _lidar_records(rng, height * width)
    row_step = LIDAR_STEP * width + row_padding
    msg = cloud_message(flavour, height=height, width=width, fields=LIDAR_FIELDS, point_step=LIDAR_STEP,
                        row_step=row_step, is_bigendian=big_endian,
                        data=_lay_out(records, LIDAR_FIELDS, LIDAR_STEP, height, width, row_step, big_endian, rng))
    points = read_points(msg)
    assert points.shape == (height * width,)
    assert points.dtype.names == tuple(name for name, *_ in LIDAR_FIELDS)
    for name, values in records.items():
        assert points[name].dtype.isnative
        np.testing.assert_array_equal(points[name], values)
    xyz = read_xyz(msg)
    np.testing.assert_array_equal(xyz, np.stack([records['x'], records['y'], records['z']], axis=-1))


def test_field_selection_and_skip_nans_follow_the_selected_float_fields():
    rng = np.random.default_rng(0)
    records = _lidar_records(rng, 6)
    records['x'][1] = np.nan
    records['intensity'][4] = np.nan
    msg = cloud_message('rosbags', height=1, width=6, fields=LIDAR_FIELDS, point_step=LIDAR_STEP,
                        row_step=6 * LIDAR_STEP,
                        data=_lay_out(records, LIDAR_FIELDS, LIDAR_STEP, 1, 6, 6 * LIDAR_STEP, False, rng))
    selected = read_points(msg, ['ring', 'intensity'], skip_nans=True)
    assert selected.dtype.names == ('ring', 'intensity')
    np.testing.assert_array_equal(selected['ring'], np.delete(records['ring'], 4))
    assert len(read_points(msg, skip_nans=True)) == 4
    assert len(read_points(msg, skip_nans=False)) == 6
    assert np.shares_memory(read_points(msg), msg.data) and not read_points(msg).flags.writeable


def test_read_xyz_drops_non_finite_points_and_accepts_float64():
    fields = (('x', 0, FLOAT64, 1), ('y', 8, FLOAT64, 1), ('z', 16, FLOAT64, 1))
    xyz = np.array([[1, 2, 3], [np.nan, 0, 0], [4, np.inf, 5], [6, 7, 8]], dtype=np.float64)
    msg = cloud_message('rclpy', height=1, width=4, fields=fields, point_step=24, row_step=96,
                        data=xyz.tobytes())
    np.testing.assert_array_equal(read_xyz(msg), np.float32([[1, 2, 3], [6, 7, 8]]))
    assert read_xyz(msg, skip_nans=False).shape == (4, 3)


def test_xyz_layout_matches_the_ros_tools_layout_byte_for_byte():
    xyz = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    cloud = xyz_cloud_fields(xyz)
    assert cloud.fields == (FieldSpec('x', 0, FLOAT32, 1), FieldSpec('y', 4, FLOAT32, 1), FieldSpec('z', 8, FLOAT32, 1))
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (1, 7, 12, 84)
    assert cloud.data == xyz.astype('<f4').tobytes()
    assert cloud.is_dense and not cloud.is_bigendian


def test_xyzrgb_layout_packs_colour_as_0x00rrggbb_float_bits():
    rng = np.random.default_rng(2)
    xyz = rng.normal(size=(2, 3, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (2, 3, 3), dtype=np.uint8)
    xyz[1, 2] = np.nan
    cloud = xyz_cloud_fields(xyz, rgb)
    assert cloud.fields[3] == FieldSpec('rgb', 12, FLOAT32, 1)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (2, 3, 16, 48)
    assert not cloud.is_dense
    records = np.frombuffer(cloud.data, dtype=np.uint8).reshape(6, 16)
    bits = records[:, 12:16].copy().view('<u4').ravel()
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    np.testing.assert_array_equal(bits, (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2])
    np.testing.assert_array_equal(records[:, :12].copy().view('<f4'), xyz.reshape(-1, 3))
    r, g, b = unpack_rgb(read_points(cloud)['rgb'])
    np.testing.assert_array_equal(np.stack([r, g, b], axis=-1), rgb.reshape(-1, 3))


def test_pack_rgb_matches_pcl_bits_and_unpacks_back():
    assert pack_rgb(255, 0, 0).view(np.uint32) == 0x00FF0000
    assert pack_rgb(0x12, 0x34, 0x56).view(np.uint32) == 0x00123456
    rng = np.random.default_rng(3)
    r, g, b = (rng.integers(0, 256, 100, dtype=np.uint8) for _ in range(3))
    for original, unpacked in zip((r, g, b), unpack_rgb(pack_rgb(r, g, b))):
        np.testing.assert_array_equal(unpacked, original)


@pytest.mark.parametrize('big_endian', [False, True])
def test_create_cloud_fields_from_a_structured_array_round_trips(big_endian):
    rng = np.random.default_rng(4)
    records = _lidar_records(rng, 12)
    dtype = np.dtype({'names': [n for n, *_ in LIDAR_FIELDS],
                      'formats': [records[n].dtype for n, *_ in LIDAR_FIELDS],
                      'offsets': [o for _, o, *_ in LIDAR_FIELDS], 'itemsize': LIDAR_STEP})
    points = np.zeros(12, dtype=dtype)
    for name, values in records.items():
        points[name] = values
    cloud = create_cloud_fields(points.reshape(3, 4), is_bigendian=big_endian)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (3, 4, LIDAR_STEP, 4 * LIDAR_STEP)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == list(LIDAR_FIELDS)
    expected = _lay_out(records, LIDAR_FIELDS, LIDAR_STEP, 3, 4, 4 * LIDAR_STEP, big_endian, rng)
    layout = np.frombuffer(expected, np.uint8).reshape(12, LIDAR_STEP)
    got = np.frombuffer(cloud.data, np.uint8).reshape(12, LIDAR_STEP)
    for _, offset, datatype, _ in LIDAR_FIELDS:              # padding bytes differ: compare fields only
        size = 8 if datatype == FLOAT64 else 4 if datatype == FLOAT32 else 2 if datatype == UINT16 else 1
        np.testing.assert_array_equal(got[:, offset:offset + size], layout[:, offset:offset + size])
    for name, values in records.items():
        np.testing.assert_array_equal(read_points(cloud)[name], values)


def test_create_cloud_fields_from_columns_with_point_step_padding_and_organised_shape():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(6, 5)).astype(np.float32)
    fields = [FieldSpec('x', 0, FLOAT32), FieldSpec('y', 4, FLOAT32), FieldSpec('z', 8, FLOAT32),
              FieldSpec('normal', 16, FLOAT32, 2)]
    cloud = create_cloud_fields(values, fields, point_step=28, organized_shape=(2, 3))
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (2, 3, 28, 84)
    assert len(cloud.data) == 6 * 28
    points = read_points(cloud)
    np.testing.assert_array_equal(points['normal'], values[:, 3:5])
    np.testing.assert_array_equal(read_xyz(cloud), values[:, :3])


def test_cloud_dtype_places_fields_at_their_offsets_in_point_step_records():
    dtype = cloud_dtype([FieldSpec('x', 0, FLOAT32), FieldSpec('ring', 6, UINT16)], 12, is_bigendian=True)
    assert dtype.itemsize == 12
    assert dtype.fields['ring'][1] == 6 and dtype.fields['ring'][0] == np.dtype('>u2')


def _cloud(**overrides):
    base = dict(height=2, width=3, fields=(FieldSpec('x', 0, FLOAT32), FieldSpec('y', 4, FLOAT32),
                                           FieldSpec('z', 8, FLOAT32)),
                is_bigendian=False, point_step=12, row_step=36, data=bytes(72), is_dense=True)
    base.update(overrides)
    return CloudFields(**base)


@pytest.mark.parametrize('overrides, message', [
    (dict(point_step=10), r"PointCloud2.point_step \(10\) is smaller than the extent of field 'z' "
                          r'\(offset 8 \+ 4 bytes = 12\)'),
    (dict(row_step=35), r'PointCloud2.row_step \(35\) is smaller than point_step\*width \(12\*3 = 36\)'),
    (dict(data=bytes(71)), r'PointCloud2.data has 71 bytes, fewer than row_step\*height \(36\*2 = 72\)'),
    (dict(fields=(FieldSpec('x', 0, 9),)), r"PointCloud2.fields\[0\] \('x'\).datatype \(9\) is not a PointField "
                                           r'datatype'),
    (dict(fields=(FieldSpec('x', 0, FLOAT32), FieldSpec('x', 4, FLOAT32))), r'repeats the name\(s\) x'),
    (dict(fields=(FieldSpec('x', 0, FLOAT32, 0),)), r"PointCloud2.fields\[0\] \('x'\).count \(0\) must be >= 1"),
    (dict(height=-1), r'PointCloud2.height \(-1\) must be >= 0'),
])
def test_malformed_clouds_raise_value_error_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        read_points(_cloud(**overrides))


@pytest.mark.parametrize('fields, message', [
    ((FieldSpec('x', 0, FLOAT32), FieldSpec('y', 4, FLOAT32)), r"PointCloud2.fields has no 'z' field \(it has x, y\)"),
    ((FieldSpec('x', 0, UINT16), FieldSpec('y', 2, FLOAT32), FieldSpec('z', 6, FLOAT32)),
     r"PointCloud2.fields 'x' is UINT16 with count 1; x, y and z must be single FLOAT32 or FLOAT64"),
])
def test_read_xyz_requires_float_xyz(fields, message):
    with pytest.raises(ValueError, match=message):
        read_xyz(_cloud(fields=fields))


def test_unknown_field_names_and_mismatched_points_are_reported():
    with pytest.raises(ValueError, match=r"PointCloud2.fields has no field 'intensity' \(it has x, y, z\)"):
        read_points(_cloud(), ['intensity'])
    with pytest.raises(ValueError, match=r'last axis has 2 values, fields need 3'):
        create_cloud_fields(np.zeros((4, 2), np.float32), _cloud().fields)
    with pytest.raises(ValueError, match=r'organized_shape \(3, 3\) holds 9 points, points has 4'):
        create_cloud_fields(np.zeros((4, 3), np.float32), _cloud().fields, organized_shape=(3, 3))
    with pytest.raises(ValueError, match=r'xyz.shape \(4, 2\) must be \(N, 3\) or \(H, W, 3\)'):
        xyz_cloud_fields(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r'rgb \(shape \(4, 3\), dtype float64\) must be uint8'):
        xyz_cloud_fields(np.zeros((4, 3)), np.zeros((4, 3)))
