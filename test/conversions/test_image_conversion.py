"""sensor_msgs/Image <-> numpy on hand-laid bytes: every encoding, padded rows, both byte orders."""
import zlib

import numpy as np
import pytest

from depthmaster_ros.conversions import (
    ENCODINGS,
    ImageFields,
    check_image_size,
    image_to_numpy,
    image_to_rgb8,
    numpy_to_image_fields,
)

from fixtures_conversions import FLAVOURS, image_message, padded_rows, random_values

RGB_SOURCES = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', '8UC1', '8UC3', '8UC4', 'mono16', '16UC1')


def _pixels(rng, encoding, height, width):
    fmt = ENCODINGS[encoding]
    shape = (height, width) if fmt.channels == 1 else (height, width, fmt.channels)
    return random_values(rng, fmt.dtype, shape)


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
@pytest.mark.parametrize('padding', [0, 3, 8])
@pytest.mark.parametrize('big_endian', [False, True])
def test_every_encoding_reads_back_with_padding_and_byte_order(flavour, encoding, padding, big_endian):
    rng = np.random.default_rng(zlib.crc32(repr((flavour, encoding, padding, big_endian)).encode()))
    height, width = 5, 7                      # odd width: rows never align by accident
    pixels = _pixels(rng, encoding, height, width)
    step = pixels[0].nbytes + padding
    msg = image_message(flavour, height=height, width=width, encoding=encoding, step=step,
                        data=padded_rows(pixels, step, big_endian, rng, extra_tail=padding),
                        is_bigendian=big_endian)
    result = image_to_numpy(msg)
    assert result.dtype == ENCODINGS[encoding].dtype and result.dtype.isnative
    assert result.shape == pixels.shape
    np.testing.assert_array_equal(result, pixels)


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_numpy_to_image_fields_round_trips_and_lays_out_little_endian_rows(encoding):
    rng = np.random.default_rng(7)
    pixels = _pixels(rng, encoding, 3, 5)
    fields = numpy_to_image_fields(pixels, encoding)
    fmt = ENCODINGS[encoding]
    assert (fields.height, fields.width, fields.encoding, fields.is_bigendian) == (3, 5, encoding, False)
    assert fields.step == 5 * fmt.channels * fmt.dtype.itemsize
    assert fields.data == pixels.astype(fmt.dtype.newbyteorder('<')).tobytes()
    np.testing.assert_array_equal(image_to_numpy(fields), pixels)


def test_native_layout_is_a_read_only_view_of_the_message_buffer():
    rng = np.random.default_rng(1)
    pixels = _pixels(rng, '32FC1', 4, 6)
    msg = image_message('rosbags', height=4, width=6, encoding='32FC1', step=6 * 4 + 4,
                        data=padded_rows(pixels, 28, False, rng))
    result = image_to_numpy(msg)
    assert np.shares_memory(result, msg.data)
    assert not result.flags.writeable
    swapped = image_message('rosbags', height=4, width=6, encoding='32FC1', step=24,
                            data=padded_rows(pixels, 24, True, rng), is_bigendian=True)
    assert not np.shares_memory(image_to_numpy(swapped), swapped.data)


def _expected_rgb(encoding, pixels):
    """The documented mapping, written out per encoding."""
    if encoding in ('rgb8', 'rgba8'):
        return pixels[:, :, :3]
    if encoding in ('bgr8', 'bgra8', '8UC3', '8UC4'):
        return np.stack([pixels[:, :, 2], pixels[:, :, 1], pixels[:, :, 0]], axis=-1)
    grey = pixels // 256 if pixels.dtype == np.uint16 else pixels
    return np.stack([grey, grey, grey], axis=-1).astype(np.uint8)


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize('encoding', RGB_SOURCES)
def test_image_to_rgb8_maps_every_colour_and_grey_encoding(flavour, encoding):
    rng = np.random.default_rng(3)
    pixels = _pixels(rng, encoding, 4, 5)
    step = pixels[0].nbytes + 2
    msg = image_message(flavour, height=4, width=5, encoding=encoding, step=step,
                        data=padded_rows(pixels, step, False, rng))
    rgb = image_to_rgb8(msg)
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, _expected_rgb(encoding, pixels))


def test_big_endian_mono16_reaches_rgb8_by_dropping_the_low_byte():
    rng = np.random.default_rng(4)
    pixels = random_values(rng, np.uint16, (3, 3))
    msg = image_message('rclpy', height=3, width=3, encoding='mono16', step=6,
                        data=padded_rows(pixels, 6, True, rng), is_bigendian=True)
    np.testing.assert_array_equal(image_to_rgb8(msg)[:, :, 1], (pixels >> 8).astype(np.uint8))


@pytest.mark.parametrize('encoding', ['32FC1', '16SC1', '64FC1', '32FC3', '16UC3'])
def test_depth_and_float_images_are_not_rgb_sources(encoding):
    fields = numpy_to_image_fields(_pixels(np.random.default_rng(0), encoding, 2, 2), encoding)
    with pytest.raises(ValueError, match=f"Image.encoding '{encoding}' is not a colour or grey image"):
        image_to_rgb8(fields)


def _fields(**overrides):
    base = dict(height=4, width=5, encoding='rgb8', is_bigendian=False, step=15, data=bytes(60))
    base.update(overrides)
    return ImageFields(**base)


@pytest.mark.parametrize('overrides, message', [
    (dict(step=14), r'Image.step \(14\) is smaller than width\*bytes_per_pixel \(15\) for encoding rgb8'),
    (dict(data=bytes(59)), r'Image.data has 59 bytes, fewer than step\*height \(15\*4 = 60\)'),
    (dict(encoding='yuv422_yuy2'), r"Image.encoding 'yuv422_yuy2' is not supported"),
    (dict(width=0, step=0, data=b''), r'Image.width x Image.height is 0x4'),
    (dict(height=0, data=b''), r'Image.width x Image.height is 5x0'),
    (dict(width=-1), r'Image.width \(-1\) must be >= 0'),
    (dict(step=15.5), r'Image.step must be an integer'),
    (dict(data='text'), r'Image.data must be a byte buffer, got str'),
])
def test_malformed_image_fields_raise_value_error_naming_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        image_to_numpy(_fields(**overrides))
    with pytest.raises(ValueError, match=message):
        image_to_rgb8(_fields(**overrides))


@pytest.mark.parametrize('array, encoding, message', [
    (np.zeros((2, 3), np.float64), '32FC1', r'array.dtype float64 does not fit encoding 32FC1'),
    (np.zeros((2, 3, 3), np.uint16), 'rgb8', r'array.dtype uint16 does not fit encoding rgb8'),
    (np.zeros((2, 3), np.uint8), 'rgb8', r'array.shape \(2, 3\) does not fit encoding rgb8: expected \(H, W, 3\)'),
    (np.zeros((2, 3, 4), np.uint8), 'bgr8', r'array.shape \(2, 3, 4\) does not fit encoding bgr8'),
    (np.zeros((0, 3), np.float32), '32FC1', r'Image.width x Image.height is 3x0'),
    (np.zeros((2, 3), np.uint8), 'rgb9', r"Image.encoding 'rgb9' is not supported"),
])
def test_numpy_to_image_fields_checks_the_array_against_the_encoding(array, encoding, message):
    with pytest.raises(ValueError, match=message):
        numpy_to_image_fields(array, encoding)


def test_single_channel_encodings_accept_a_trailing_channel_axis_and_big_endian_arrays():
    depth = np.arange(6, dtype='>f4').reshape(2, 3, 1)
    fields = numpy_to_image_fields(depth, '32FC1')
    assert fields.is_bigendian is False
    np.testing.assert_array_equal(image_to_numpy(fields), depth[:, :, 0])


def test_check_image_size_refuses_empty_and_oversized_images():
    check_image_size(640, 480, 640 * 480)
    check_image_size(10_000, 10_000, None)
    with pytest.raises(ValueError, match=r'Image.width x Image.height is 640x481 \(307840 pixels\), above max_pixels'
                                         r' \(307200\)'):
        check_image_size(640, 481, 640 * 480)
    with pytest.raises(ValueError, match=r'is 0x480'):
        check_image_size(0, 480, 10)
