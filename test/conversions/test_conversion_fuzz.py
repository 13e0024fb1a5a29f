"""Property tests over message fields: valid layouts round-trip, anything else is a documented ValueError."""
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
import numpy as np

from depthmaster_ros.conversions import (
    DATATYPES,
    ENCODINGS,
    FieldSpec,
    compressed_to_rgb8,
    create_cloud_fields,
    encode_compressed,
    image_to_numpy,
    image_to_rgb8,
    read_points,
    read_xyz,
)

from fixtures_conversions import compressed_message, image_message, padded_rows, random_values

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENCODING_NAMES = sorted(ENCODINGS) + ['yuv422', '', 'RGB8']


def _same(a, b):
    return np.array_equal(a, b, equal_nan=a.dtype.kind == 'f')


@FUZZ
@given(encoding=st.sampled_from(ENCODING_NAMES), height=st.integers(-1, 5), width=st.integers(-1, 7),
       step_delta=st.integers(-3, 6), data_delta=st.integers(-4, 4), big_endian=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_image_fields_round_trip_or_raise_value_error(encoding, height, width, step_delta, data_delta,
                                                      big_endian, seed):
    rng = np.random.default_rng(seed)
    fmt = ENCODINGS.get(encoding, ENCODINGS['rgb8'])
    valid_size = max(height, 0), max(width, 0)
    shape = valid_size if fmt.channels == 1 else valid_size + (fmt.channels,)
    pixels = random_values(rng, fmt.dtype, shape)
    row_bytes = max(width, 0) * fmt.channels * fmt.dtype.itemsize
    step = row_bytes + step_delta
    data = padded_rows(pixels, max(step, row_bytes), big_endian, rng) if height > 0 else b''
    data = data[:max(len(data) + data_delta, 0)] if data_delta < 0 else data + bytes(data_delta)
    msg = image_message('rosbags', height=max(height, 0), width=max(width, 0), encoding=encoding,
                        step=max(step, 0), data=data, is_bigendian=big_endian)
    msg.height, msg.width, msg.step = height, width, step            # rosbags messages do not check
    valid = (encoding in ENCODINGS and height > 0 and width > 0 and step >= row_bytes
             and len(data) >= step * height)
    event('valid image' if valid else 'invalid image')
    try:
        result = image_to_numpy(msg)
    except ValueError as error:
        assert not valid, f'valid image refused: {error}'
        assert any(name in str(error) for name in ('Image.encoding', 'Image.height', 'Image.width',
                                                    'Image.step', 'Image.data')), str(error)
        return
    assert valid
    assert _same(result, pixels)
    try:
        rgb = image_to_rgb8(msg)
    except ValueError as error:
        assert 'is not a colour or grey image' in str(error)
    else:
        assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8


_field_strategy = st.tuples(st.sampled_from(sorted(DATATYPES)), st.integers(1, 3), st.integers(0, 3))


@FUZZ
@given(layout=st.lists(_field_strategy, min_size=0, max_size=5), with_xyz=st.booleans(),
       height=st.integers(0, 3), width=st.integers(0, 5), step_padding=st.integers(-2, 5),
       row_padding=st.integers(-3, 9), data_delta=st.integers(-5, 3), big_endian=st.booleans(),
       bad_datatype=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_cloud_fields_round_trip_or_raise_value_error(layout, with_xyz, height, width, step_padding, row_padding,
                                                      data_delta, big_endian, bad_datatype, seed):
    rng = np.random.default_rng(seed)
    specs, offset = [], 0
    if with_xyz:
        specs = [FieldSpec(name, 4 * i, 7) for i, name in enumerate('xyz')]
        offset = 12
    for index, (datatype, count, gap) in enumerate(layout):
        offset += gap
        specs.append(FieldSpec(f'f{index}', offset, datatype, count))
        offset += DATATYPES[datatype].itemsize * count
    records = np.zeros(height * width, dtype=[(s.name, DATATYPES[s.datatype], (s.count,)) for s in specs])
    for spec in specs:
        records[spec.name] = random_values(rng, DATATYPES[spec.datatype], (height * width, spec.count))
    cloud = create_cloud_fields(records.reshape(-1), specs, point_step=offset + max(step_padding, 0),
                                is_bigendian=big_endian, organized_shape=(height, width))
    point_step = offset + step_padding
    row_step = cloud.point_step * width + row_padding
    grid = np.frombuffer(cloud.data, np.uint8).reshape(height, width * cloud.point_step)
    rows = rng.integers(0, 256, size=(height, max(row_step, width * cloud.point_step)), dtype=np.uint8)
    rows[:, :grid.shape[1]] = grid
    data = rows.tobytes()
    data = data[:max(len(data) + data_delta, 0)] if data_delta < 0 else data + bytes(data_delta)
    fields = list(cloud.fields)
    if bad_datatype and fields:
        fields[0] = FieldSpec(fields[0].name, fields[0].offset, 9, 1)
    msg = type(cloud)(height=height, width=width, fields=tuple(fields), is_bigendian=big_endian,
                      point_step=point_step, row_step=row_step, data=data, is_dense=cloud.is_dense)
    valid = (point_step >= offset and row_step >= point_step * width and len(data) >= row_step * height
             and not (bad_datatype and fields) and (point_step > 0 or height * width == 0)
             and step_padding >= 0)
    event('valid cloud' if valid else 'invalid cloud')
    try:
        points = read_points(msg)
    except ValueError as error:
        assert not valid, f'valid cloud refused: {error}'
        assert 'PointCloud2.' in str(error), str(error)
        return
    assert valid
    assert points.shape == (height * width,)
    for spec in specs:
        assert _same(points[spec.name].reshape(height * width, spec.count), records[spec.name])
    if with_xyz:
        xyz = read_xyz(msg, skip_nans=False)
        assert _same(xyz, np.stack([records[n][:, 0] for n in 'xyz'], axis=-1))


@FUZZ
@given(data=st.binary(max_size=64), fmt=st.sampled_from(['jpeg', 'png', 'rgb8; jpeg compressed bgr8',
                                                         '16UC1; compressedDepth png', 'tiff', '']))
def test_arbitrary_compressed_bytes_decode_or_raise_value_error(data, fmt):
    try:
        rgb = compressed_to_rgb8(compressed_message('rosbags', fmt, data))
    except ValueError as error:
        assert 'CompressedImage.' in str(error), str(error)
    else:
        assert rgb.ndim == 3 and rgb.shape[2] == 3


@FUZZ
@given(cut=st.integers(0, 200), seed=st.integers(0, 2**32 - 1), fmt=st.sampled_from(['jpeg', 'png']))
def test_truncated_encoded_images_raise_value_error_or_decode(cut, seed, fmt):
    rgb = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    format_string, data = encode_compressed(rgb, fmt)
    try:
        decoded = compressed_to_rgb8(compressed_message('rosbags', format_string, data[:len(data) - cut]))
    except ValueError as error:
        assert 'CompressedImage.data' in str(error)
    else:
        assert decoded.shape == rgb.shape
