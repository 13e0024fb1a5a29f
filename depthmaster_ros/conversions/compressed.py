"""sensor_msgs/CompressedImage -> numpy with OpenCV, reading ``format`` as image_transport writes it.

Formats understood:
  ``jpeg`` / ``png``                          bare codec; pixels as OpenCV decodes them (BGR/grey)
  ``rgb8; jpeg compressed bgr8``               compressed_image_transport: source encoding; codec
  ``16UC1; compressedDepth png``               compressed_depth_image_transport: a 12-byte header
  ``32FC1; compressedDepth png``               (int32 format, float32 depthParam[2]) before the PNG
``encode_compressed`` writes the compressed_image_transport form.
"""
import struct
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.conversions.buffers import ImplausibleSize, byte_view
from depthmaster_ros.conversions.image import check_image_size, pixels_to_rgb8

from .errors import ConversionError

_CODECS = ('jpeg', 'png')
_DEPTH_HEADER = struct.Struct('<iff')   # compressed_depth_image_transport ConfigHeader
_GREY_ENCODINGS = ('mono8', 'mono16', '8UC1', '16UC1')
_ALPHA_ENCODINGS = ('rgba8', 'bgra8', '8UC4')


class CompressedFormat(NamedTuple):
    encoding: str       # the source image's encoding; '' when the format string does not say
    codec: str          # jpeg | png
    depth: bool         # compressedDepth (12-byte header, depth quantisation)


def parse_format(fmt: str) -> CompressedFormat:
    """Split a CompressedImage.format string; ValueError naming CompressedImage.format when unknown."""
    if not isinstance(fmt, str):
        raise ConversionError(f'CompressedImage.format must be a string, got {type(fmt).__name__}')
    text = fmt.strip().lower()
    encoding, _, rest = text.partition(';') if ';' in text else ('', '', text)
    words = rest.split()
    depth = 'compresseddepth' in words
    if depth:
        codec = 'png' if words[-1] == 'compresseddepth' else words[words.index('compresseddepth') + 1]
    else:
        codec = words[0] if words else ''
    codec = 'jpeg' if codec == 'jpg' else codec
    if codec not in _CODECS:
        raise ConversionError(f'CompressedImage.format {fmt!r} is not supported: codec must be jpeg or png'
                              f'{" (compressedDepth rvl is not supported)" if codec == "rvl" else ""}')
    # Encodings are case-sensitive in ROS ('16UC1', 'rgb8'): take them from the original string.
    encoding = fmt.split(';', 1)[0].strip() if encoding else ''
    if depth and encoding not in ('16UC1', '32FC1'):
        raise ConversionError(f'CompressedImage.format {fmt!r}: compressedDepth carries 16UC1 or 32FC1, not {encoding!r}')
    return CompressedFormat(encoding, codec, depth)


_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, extended, progressive, lossless, ...); not DHT/JPG/DAC
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def encoded_size(payload: np.ndarray) -> tuple[int, int] | None:
    """(width, height) read from a PNG or JPEG header without decoding; None when not found.

    Lets a receiver refuse an oversize image before OpenCV allocates it: a few kilobytes of PNG
    can declare a gigapixel image. The JPEG markers are walked to the frame header wherever it is
    (segments before it can be padded to push it far into the data).
    """
    data = payload.tobytes()
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b'IHDR':
        return struct.unpack('>II', data[16:24])
    if data[:2] != b'\xff\xd8':
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:                      # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2                            # markers without a length
            continue
        (length,) = struct.unpack('>H', data[pos + 2:pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack('>HH', data[pos + 5:pos + 9])
            return width, height
        pos += 2 + length
    return None


def _imdecode(payload: np.ndarray, codec: str) -> np.ndarray:
    import cv2
    if payload.size == 0:
        raise ConversionError('CompressedImage.data is empty')
    try:
        pixels = cv2.imdecode(payload, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        pixels = None
    if pixels is None or pixels.size == 0:
        raise ConversionError(f'CompressedImage.data ({payload.size} bytes) could not be decoded as {codec}')
    return pixels


def _decode_depth(payload: np.ndarray, fmt: CompressedFormat) -> np.ndarray:
    if payload.size <= _DEPTH_HEADER.size:
        raise ConversionError(f'CompressedImage.data ({payload.size} bytes) is too short for a compressedDepth '
                              f'header ({_DEPTH_HEADER.size} bytes) and an image')
    _, quant_a, quant_b = _DEPTH_HEADER.unpack(payload[:_DEPTH_HEADER.size].tobytes())
    pixels = _imdecode(payload[_DEPTH_HEADER.size:], fmt.codec)
    if pixels.dtype != np.uint16 or pixels.ndim != 2:
        raise ConversionError(f'CompressedImage.data: compressedDepth image is {pixels.dtype} with shape {pixels.shape},'
                              ' expected single-channel 16-bit')
    if fmt.encoding == '16UC1':
        return pixels
    # 32FC1 travels as quantised inverse depth: depth = a / (q - b), q == 0 meaning no depth.
    quantised = pixels.astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        depth = np.float32(quant_a) / (quantised - np.float32(quant_b))
    depth[pixels == 0] = np.nan
    return depth


def _to_source_encoding(pixels: np.ndarray, encoding: str) -> tuple[np.ndarray, str]:
    """OpenCV decodes to BGR(A)/grey; turn that back into the encoding the publisher started from."""
    import cv2
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if encoding in _GREY_ENCODINGS:
        if channels == 3:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
        elif channels == 4:
            pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2GRAY)
        if encoding in ('mono16', '16UC1') and pixels.dtype == np.uint8:
            pixels = pixels.astype(np.uint16) << 8
        elif encoding in ('mono8', '8UC1') and pixels.dtype == np.uint16:
            pixels = (pixels >> 8).astype(np.uint8)
        return pixels, encoding
    if pixels.dtype != np.uint8:
        pixels = (pixels >> 8).astype(np.uint8)
    if channels == 1:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    elif channels == 4 and encoding not in _ALPHA_ENCODINGS:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR)
    elif channels == 3 and encoding in _ALPHA_ENCODINGS:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2BGRA)
    if encoding in ('rgb8', 'rgba8'):
        pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB if pixels.shape[2] == 3 else cv2.COLOR_BGRA2RGBA)
    elif encoding not in ('bgr8', 'bgra8', '8UC3', '8UC4'):
        raise ConversionError(f'CompressedImage.format names source encoding {encoding!r}, which jpeg/png cannot carry')
    return np.ascontiguousarray(pixels), encoding


def _bare_encoding(pixels: np.ndarray) -> str:
    """The encoding of pixels decoded from a bare 'jpeg'/'png' format, i.e. as OpenCV returns them."""
    if pixels.ndim == 2:
        return 'mono16' if pixels.dtype == np.uint16 else 'mono8'
    if pixels.dtype != np.uint8:
        raise ConversionError(f'CompressedImage.data decodes to {pixels.dtype} colour, which no encoding here carries')
    return 'bgra8' if pixels.shape[2] == 4 else 'bgr8'


def decode_compressed(msg: Any) -> tuple[np.ndarray, str]:
    """(pixels, encoding): the image in the encoding the format string names (or OpenCV's when bare)."""
    fmt = parse_format(msg.format)
    payload = byte_view(msg.data, 'CompressedImage.data')
    if fmt.depth:
        return _decode_depth(payload, fmt), fmt.encoding
    pixels = _imdecode(payload, fmt.codec)
    if not fmt.encoding:
        return pixels, _bare_encoding(pixels)
    return _to_source_encoding(pixels, fmt.encoding)


def compressed_to_numpy(msg: Any) -> np.ndarray:
    """The decoded pixels (see ``decode_compressed`` for their encoding)."""
    return decode_compressed(msg)[0]


def compressed_to_rgb8(msg: Any, max_pixels: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB for the model; ValueError for compressedDepth images.

    max_pixels (None or 0 = no limit) is checked against the size in the PNG/JPEG header before
    decoding; data without a readable size header is never decoded.
    """
    fmt = parse_format(msg.format)
    if fmt.depth:
        raise ConversionError(f'CompressedImage.format {msg.format!r} is a depth image, not an RGB source')
    payload = byte_view(msg.data, 'CompressedImage.data')
    declared = encoded_size(payload)
    if declared is None:        # OpenCV would sniff any codec it knows and allocate whatever that one declares
        raise ConversionError(f'CompressedImage.data ({payload.size} bytes) has no PNG or JPEG size header; not decoded')
    check_image_size(declared[0], declared[1], max_pixels)
    pixels, encoding = decode_compressed(msg)
    if (pixels.shape[1], pixels.shape[0]) != tuple(declared):
        raise ImplausibleSize(f'CompressedImage.data declares {declared[0]}x{declared[1]} in its header but decodes '
                              f'to {pixels.shape[1]}x{pixels.shape[0]}')
    return pixels_to_rgb8(pixels, encoding, source='CompressedImage encoding')


def encode_compressed(array: ArrayLike, fmt: str = 'jpeg', quality: int = 95) -> tuple[str, bytes]:
    """(format string, bytes) for a CompressedImage, as compressed_image_transport publishes them.

    ``array`` is (H, W, 3) uint8 RGB, (H, W) uint8 grey, or (H, W) uint16 grey (png only).
    ``quality`` is the JPEG quality 1..100; png uses OpenCV's default compression level.
    """
    import cv2
    if fmt not in _CODECS:
        raise ConversionError(f'fmt {fmt!r} must be jpeg or png')
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ConversionError(f'quality ({quality!r}) must be an integer in 1..100')
    array = np.asarray(array)
    if array.ndim in (2, 3) and (array.shape[0] == 0 or array.shape[1] == 0):
        raise ConversionError(f'array.shape {array.shape} has no pixels')
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype == np.uint8:
        encoding, encoded, pixels = 'rgb8', 'bgr8', cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGB2BGR)
    elif array.ndim == 2 and array.dtype == np.uint8:
        encoding = encoded = 'mono8'
        pixels = np.ascontiguousarray(array)
    elif array.ndim == 2 and array.dtype == np.uint16 and fmt == 'png':
        encoding = encoded = 'mono16'
        pixels = np.ascontiguousarray(array)
    else:
        raise ConversionError(f'array with shape {array.shape} and dtype {array.dtype} cannot be encoded as {fmt}: '
                              'expected (H, W, 3) uint8 RGB, (H, W) uint8, or (H, W) uint16 for png')
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if fmt == 'jpeg' else []
    ok, buffer = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', pixels, params)
    if not ok:
        raise ConversionError(f'OpenCV could not encode array with shape {array.shape} as {fmt}')
    return f'{encoding}; {fmt} compressed {encoded}', buffer.tobytes()
