"""CompressedImage decoding for every format string image_transport writes, and our encoder."""
import struct
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from depthmaster_ros.conversions import (
    CompressedFormat,
    compressed_to_numpy,
    compressed_to_rgb8,
    decode_compressed,
    encode_compressed,
    parse_format,
)

from fixtures_conversions import FLAVOURS, compressed_message


def _smooth_rgb(height=24, width=31):
    """A gradient image: JPEG reproduces it closely, so a channel swap would show."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), 255 - x * 255 // (width - 1)],
                    axis=-1).astype(np.uint8)


def _png(pixels):
    ok, buffer = cv2.imencode('.png', pixels)
    assert ok
    return buffer.tobytes()


@pytest.mark.parametrize('fmt, expected', [
    ('jpeg', CompressedFormat('', 'jpeg', False)),
    ('png', CompressedFormat('', 'png', False)),
    ('rgb8; jpeg compressed bgr8', CompressedFormat('rgb8', 'jpeg', False)),
    ('bgr8; png compressed bgr8', CompressedFormat('bgr8', 'png', False)),
    ('mono16; png compressed mono16', CompressedFormat('mono16', 'png', False)),
    ('16UC1; compressedDepth png', CompressedFormat('16UC1', 'png', True)),
    ('32FC1; compressedDepth', CompressedFormat('32FC1', 'png', True)),
])
def test_parse_format_reads_image_transport_strings(fmt, expected):
    assert parse_format(fmt) == expected


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_png_rgb_round_trips_exactly(flavour):
    rgb = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    fmt, data = encode_compressed(rgb, 'png')
    assert fmt == 'rgb8; png compressed bgr8'
    msg = compressed_message(flavour, fmt, data)
    np.testing.assert_array_equal(compressed_to_rgb8(msg), rgb)
    pixels, encoding = decode_compressed(msg)
    assert encoding == 'rgb8'
    np.testing.assert_array_equal(pixels, rgb)


def test_jpeg_rgb_keeps_channel_order_within_codec_error():
    rgb = _smooth_rgb()
    fmt, data = encode_compressed(rgb, 'jpeg', quality=95)
    assert fmt == 'rgb8; jpeg compressed bgr8'
    decoded = compressed_to_rgb8(compressed_message('rosbags', fmt, data))
    assert decoded.shape == rgb.shape
    error = np.abs(decoded.astype(int) - rgb.astype(int))
    assert error.mean() < 3.0
    swapped = np.abs(decoded[:, :, ::-1].astype(int) - rgb.astype(int))
    assert swapped.mean() > 30.0


@pytest.mark.parametrize('dtype, encoding', [(np.uint8, 'mono8'), (np.uint16, 'mono16')])
def test_grey_png_round_trips_and_feeds_rgb8_as_grey(dtype, encoding):
    grey = np.random.default_rng(1).integers(0, np.iinfo(dtype).max, (7, 11), dtype=dtype, endpoint=True)
    fmt, data = encode_compressed(grey, 'png')
    assert fmt == f'{encoding}; png compressed {encoding}'
    msg = compressed_message('rclpy', fmt, data)
    pixels, decoded_encoding = decode_compressed(msg)
    assert decoded_encoding == encoding
    np.testing.assert_array_equal(pixels, grey)
    expected_grey = (grey >> 8).astype(np.uint8) if dtype == np.uint16 else grey
    np.testing.assert_array_equal(compressed_to_rgb8(msg), np.repeat(expected_grey[:, :, None], 3, axis=2))


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_bare_png_format_decodes_as_opencv_bgr(flavour):
    bgr = np.random.default_rng(2).integers(0, 256, (5, 6, 3), dtype=np.uint8)
    msg = compressed_message(flavour, 'png', _png(bgr))
    pixels, encoding = decode_compressed(msg)
    assert encoding == 'bgr8'
    np.testing.assert_array_equal(pixels, bgr)
    np.testing.assert_array_equal(compressed_to_rgb8(msg), bgr[:, :, ::-1])


def test_source_encodings_are_restored_from_bgr_payloads():
    bgra = np.random.default_rng(3).integers(0, 256, (4, 5, 4), dtype=np.uint8)
    pixels, encoding = decode_compressed(compressed_message('rosbags', 'rgba8; png compressed bgra8', _png(bgra)))
    assert encoding == 'rgba8'
    np.testing.assert_array_equal(pixels, bgra[:, :, [2, 1, 0, 3]])
    pixels, encoding = decode_compressed(compressed_message('rosbags', 'bgr8; png compressed bgr8',
                                                            _png(bgra[:, :, :3])))
    assert encoding == 'bgr8'
    np.testing.assert_array_equal(pixels, bgra[:, :, :3])


def test_compressed_depth_16uc1_skips_the_config_header():
    depth_mm = np.random.default_rng(4).integers(0, 65535, (6, 8), dtype=np.uint16)
    data = struct.pack('<iff', 0, 0.0, 0.0) + _png(depth_mm)
    msg = compressed_message('rclpy', '16UC1; compressedDepth png', data)
    pixels, encoding = decode_compressed(msg)
    assert encoding == '16UC1'
    np.testing.assert_array_equal(pixels, depth_mm)
    with pytest.raises(ValueError, match='is a depth image, not an RGB source'):
        compressed_to_rgb8(msg)


def test_compressed_depth_32fc1_inverts_the_depth_quantisation():
    rng = np.random.default_rng(5)
    depth = rng.uniform(0.5, 20.0, (5, 7)).astype(np.float32)
    quant_a, quant_b = 10000.0, 2.0               # 20 m still spans 500 quantisation steps
    quantised = np.round(quant_a / depth + quant_b).astype(np.uint16)
    quantised[0, 0] = 0                           # no return
    data = struct.pack('<iff', 0, quant_a, quant_b) + _png(quantised)
    decoded = compressed_to_numpy(compressed_message('rosbags', '32FC1; compressedDepth png', data))
    assert decoded.dtype == np.float32 and np.isnan(decoded[0, 0])
    expected = quant_a / (quantised.astype(np.float32) - quant_b)
    np.testing.assert_allclose(decoded.ravel()[1:], expected.ravel()[1:], rtol=1e-6)
    np.testing.assert_allclose(decoded.ravel()[1:], depth.ravel()[1:], rtol=0.005)


@pytest.mark.parametrize('fmt, data, message', [
    ('jpeg', b'', r'CompressedImage.data is empty'),
    ('jpeg', b'\xff\xd8 definitely not a jpeg', r'CompressedImage.data \(24 bytes\) could not be decoded as jpeg'),
    ('rgb8; png compressed bgr8', bytes(range(200)), r'CompressedImage.data \(200 bytes\) could not be decoded as png'),
    ('16UC1; compressedDepth png', b'\x00' * 12, r'CompressedImage.data \(12 bytes\) is too short'),
    ('webp', b'xx', r"CompressedImage.format 'webp' is not supported"),
    ('16UC1; compressedDepth rvl', b'xx', r'compressedDepth rvl is not supported'),
    ('rgb8; compressedDepth png', b'xx', r"compressedDepth carries 16UC1 or 32FC1, not 'rgb8'"),
])
def test_bad_compressed_images_raise_value_error_naming_the_field(fmt, data, message):
    with pytest.raises(ValueError, match=message):
        compressed_to_numpy(compressed_message('rclpy', fmt, data))


def test_truncated_png_is_reported_as_undecodable():
    _, data = encode_compressed(np.zeros((16, 16, 3), np.uint8), 'png')
    with pytest.raises(ValueError, match='CompressedImage.data'):
        compressed_to_rgb8(compressed_message('rosbags', 'rgb8; png compressed bgr8', data[:len(data) // 2]))


@pytest.mark.parametrize('array, kwargs, message', [
    (np.zeros((4, 4, 3), np.uint8), dict(fmt='bmp'), r"fmt 'bmp' must be jpeg or png"),
    (np.zeros((4, 4, 3), np.uint8), dict(quality=0), r'quality \(0\) must be an integer in 1..100'),
    (np.zeros((4, 4, 3), np.float32), dict(), r'dtype float32 cannot be encoded as jpeg'),
    (np.zeros((4, 4), np.uint16), dict(fmt='jpeg'), r'dtype uint16 cannot be encoded as jpeg'),
    (np.zeros((0, 4, 3), np.uint8), dict(), r'array.shape \(0, 4, 3\) has no pixels'),
])
def test_encode_compressed_rejects_what_it_cannot_encode(array, kwargs, message):
    with pytest.raises(ValueError, match=message):
        encode_compressed(array, **kwargs)


@pytest.mark.parametrize('codec', ['png', 'jpeg'])
def test_oversize_image_is_refused_from_its_header_before_decoding(codec):
    from depthmaster_ros.conversions import encoded_size
    rgb = np.zeros((300, 400, 3), np.uint8)
    fmt, data = encode_compressed(rgb, codec)
    assert encoded_size(np.frombuffer(data, np.uint8)) == (400, 300)
    msg = SimpleNamespace(format=fmt, data=data)
    with pytest.raises(ValueError, match='max_pixels'):
        compressed_to_rgb8(msg, max_pixels=400 * 300 - 1)
    assert compressed_to_rgb8(msg, max_pixels=400 * 300).shape == (300, 400, 3)


def test_png_declaring_a_gigapixel_image_is_refused_without_allocating_it():
    import struct
    import zlib
    ihdr = struct.pack('>IIBBBBB', 40000, 40000, 8, 2, 0, 0, 0)
    chunk = struct.pack('>I', len(ihdr)) + b'IHDR' + ihdr + struct.pack('>I', zlib.crc32(b'IHDR' + ihdr))
    data = b'\x89PNG\r\n\x1a\n' + chunk
    with pytest.raises(ValueError, match='40000x40000'):
        compressed_to_rgb8(SimpleNamespace(format='png', data=data), max_pixels=8_000_000)
