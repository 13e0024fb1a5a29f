"""sensor_msgs/Image <-> numpy, layout-compatible with the ROS 2 cv_bridge.

No ROS 2 cv_bridge installs from a package registry, so this module reads and writes the Image
layout itself. It is duck-typed: it reads ``height``, ``width``, ``encoding``, ``is_bigendian``,
``step`` and ``data`` from any object, so rclpy messages, rosbags messages and ``ImageFields``
all work. Every malformed field raises ValueError naming that field.
"""
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.conversions.buffers import ImplausibleSize, byte_view, require_int

from .errors import ConversionError


class PixelFormat(NamedTuple):
    dtype: np.dtype      # one channel, native byte order
    channels: int


# One row per supported encoding (names as in sensor_msgs/image_encodings.hpp).
ENCODINGS: dict[str, PixelFormat] = {
    'rgb8': PixelFormat(np.dtype(np.uint8), 3),
    'bgr8': PixelFormat(np.dtype(np.uint8), 3),
    'rgba8': PixelFormat(np.dtype(np.uint8), 4),
    'bgra8': PixelFormat(np.dtype(np.uint8), 4),
    'mono8': PixelFormat(np.dtype(np.uint8), 1),
    'mono16': PixelFormat(np.dtype(np.uint16), 1),
    '8UC1': PixelFormat(np.dtype(np.uint8), 1),
    '8UC3': PixelFormat(np.dtype(np.uint8), 3),
    '8UC4': PixelFormat(np.dtype(np.uint8), 4),
    '16UC1': PixelFormat(np.dtype(np.uint16), 1),
    '16UC3': PixelFormat(np.dtype(np.uint16), 3),
    '16SC1': PixelFormat(np.dtype(np.int16), 1),
    '32FC1': PixelFormat(np.dtype(np.float32), 1),
    '32FC3': PixelFormat(np.dtype(np.float32), 3),
    '64FC1': PixelFormat(np.dtype(np.float64), 1),
}

# How each colour or grey encoding becomes RGB for the model: the name of an OpenCV colour
# conversion, or None where the pixels already are RGB. 8UC3/8UC4 are read as BGR(A), as cv_bridge
# does. Names, not codes: OpenCV is imported only when a conversion runs (rgb8 needs none).
_TO_RGB = {
    'rgb8': None, 'rgba8': 'COLOR_RGBA2RGB', 'bgr8': 'COLOR_BGR2RGB', 'bgra8': 'COLOR_BGRA2RGB',
    '8UC3': 'COLOR_BGR2RGB', '8UC4': 'COLOR_BGRA2RGB', 'mono8': 'COLOR_GRAY2RGB',
    '8UC1': 'COLOR_GRAY2RGB', 'mono16': 'COLOR_GRAY2RGB', '16UC1': 'COLOR_GRAY2RGB',
}
# The encodings a camera image may have (docs/node.md lists them; a test keeps the two equal); the rest
# of ENCODINGS are read (ground truth, depth) but are no image for the model.
RGB_SOURCES = tuple(encoding for encoding in ENCODINGS if encoding in _TO_RGB)


@dataclass(frozen=True)
class ImageFields:
    """The fields of a sensor_msgs/Image, ready for either message adapter."""
    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int
    data: bytes


def pixel_format(encoding: str) -> PixelFormat:
    """The (dtype, channels) of ``encoding``; ValueError naming Image.encoding when unsupported."""
    try:
        return ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ConversionError(
            f'Image.encoding {encoding!r} is not supported; supported: {", ".join(ENCODINGS)}') from None


def check_image_size(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse empty images and images above ``max_pixels`` (None or 0: no limit) before decoding."""
    width = require_int(width, 'Image.width')
    height = require_int(height, 'Image.height')
    if width == 0 or height == 0:
        raise ConversionError(f'Image.width x Image.height is {width}x{height}; an image needs at least one pixel')
    if max_pixels and width * height > max_pixels:
        raise ImplausibleSize(
            f'Image.width x Image.height is {width}x{height} ({width * height} pixels), '
            f'above max_pixels ({max_pixels})')


def image_to_numpy(msg: Any) -> np.ndarray:
    """The pixels as (H, W) or (H, W, C) in the encoding's dtype and native byte order.

    Row padding (``step`` beyond ``width * bytes_per_pixel``) is skipped by striding. Native-endian
    data is returned as a read-only view of the message buffer (copy before writing);
    byte-swapped data is converted into a new array.
    """
    encoding = msg.encoding
    fmt = pixel_format(encoding)
    height = require_int(msg.height, 'Image.height')
    width = require_int(msg.width, 'Image.width')
    check_image_size(width, height, None)
    step = require_int(msg.step, 'Image.step')
    row_bytes = width * fmt.channels * fmt.dtype.itemsize
    if step < row_bytes:
        raise ImplausibleSize(
            f'Image.step ({step}) is smaller than width*bytes_per_pixel ({row_bytes}) for encoding {encoding}')
    buffer = byte_view(msg.data, 'Image.data')
    if buffer.size < step * height:
        raise ImplausibleSize(
            f'Image.data has {buffer.size} bytes, fewer than step*height ({step}*{height} = {step * height})')
    big_endian = bool(msg.is_bigendian)
    wire_dtype = fmt.dtype.newbyteorder('>' if big_endian else '<') if fmt.dtype.itemsize > 1 else fmt.dtype
    shape = (height, width, fmt.channels) if fmt.channels > 1 else (height, width)
    strides = (step, fmt.channels * fmt.dtype.itemsize, fmt.dtype.itemsize)[:len(shape)]
    pixels = np.ndarray(shape, dtype=wire_dtype, buffer=buffer, strides=strides)
    if not wire_dtype.isnative:
        return pixels.astype(fmt.dtype)
    pixels.flags.writeable = False
    return pixels


def pixels_to_rgb8(pixels: np.ndarray, encoding: str, source: str = 'Image.encoding') -> np.ndarray:
    """(H, W, 3) uint8 RGB from pixels in ``encoding``; the model's only input format.

    16-bit grey is reduced to 8 bit by dropping the low byte (``>> 8``): a fixed mapping, so the
    same scene has the same brightness in every frame (per-frame max-normalisation would not).
    """
    if encoding not in _TO_RGB:
        raise ConversionError(
            f'{source} {encoding!r} is not a colour or grey image; RGB sources: {", ".join(RGB_SOURCES)}')
    conversion = _TO_RGB[encoding]
    if conversion is None:
        return pixels
    import cv2
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(pixels), getattr(cv2, conversion))


def image_to_rgb8(msg: Any) -> np.ndarray:
    """(H, W, 3) uint8 RGB for the model from any colour or grey Image; ValueError for depth/float images."""
    if msg.encoding not in _TO_RGB:
        pixel_format(msg.encoding)   # unknown encodings get the "not supported" message
    return pixels_to_rgb8(image_to_numpy(msg), msg.encoding)


def numpy_to_image_fields(array: ArrayLike, encoding: str) -> ImageFields:
    """Image fields for ``array`` (little-endian, unpadded rows) after checking it fits ``encoding``."""
    fmt = pixel_format(encoding)
    array = np.asarray(array)
    if array.ndim == 3 and fmt.channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    expected_ndim = 2 if fmt.channels == 1 else 3
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != fmt.channels):
        wanted = '(H, W)' if fmt.channels == 1 else f'(H, W, {fmt.channels})'
        raise ConversionError(f'array.shape {array.shape} does not fit encoding {encoding}: expected {wanted}')
    if array.dtype.kind != fmt.dtype.kind or array.dtype.itemsize != fmt.dtype.itemsize:
        raise ConversionError(f'array.dtype {array.dtype} does not fit encoding {encoding}: expected {fmt.dtype}')
    height, width = array.shape[:2]
    check_image_size(width, height, None)
    little = np.ascontiguousarray(array, dtype=fmt.dtype.newbyteorder('<'))
    return ImageFields(height=int(height), width=int(width), encoding=encoding, is_bigendian=False,
                       step=int(width * fmt.channels * fmt.dtype.itemsize), data=little.tobytes())
