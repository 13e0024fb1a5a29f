"""Zero-copy byte views over a message's ``data`` field, whatever its container.

rclpy messages hold ``array.array('B')``, rosbags messages a numpy uint8 array, and hand-built
records ``bytes``; every conversion reads them through this one function so each layout check
sees the same flat uint8 view.
"""
from typing import Any, SupportsInt

import numpy as np

from .errors import ConversionError


class ImplausibleSize(ConversionError):
    """A message whose declared sizes contradict its own data, or ask for more than the configured limit.

    A working publisher never writes one; a crafted or corrupt file does. The node drops such a frame
    like any other bad input; the offline tools refuse the whole file (`depthmaster_ros.bag.refusal`).
    """


def byte_view(data: Any, field: str) -> np.ndarray:
    """A flat uint8 view of ``data`` without copying when the buffer is contiguous.

    ``data`` is anything holding bytes (buffer protocol, or a list of ints); ``field`` names the
    message field for the error, e.g. ``'Image.data'``.
    """
    if isinstance(data, np.ndarray):
        if not data.flags.c_contiguous:
            data = np.ascontiguousarray(data)
        if data.dtype == np.uint8:
            return data.reshape(-1)
        if data.dtype.hasobject:
            raise ConversionError(f'{field} must be a byte buffer, got an object array')
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (list, tuple)):
        try:
            return np.asarray(data, dtype=np.uint8).reshape(-1)
        except (TypeError, ValueError, OverflowError) as error:
            raise ConversionError(f'{field} must hold byte values 0..255 ({error})') from None
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):
        raise ConversionError(f'{field} must be a byte buffer, got {type(data).__name__}') from None


def require_int(value: SupportsInt, field: str, minimum: int = 0) -> int:
    """``value`` as a Python int no smaller than ``minimum``; message fields arrive as numpy ints too."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise ConversionError(f'{field} must be an integer, got {value!r}') from None
    if number != value:
        raise ConversionError(f'{field} must be an integer, got {value!r}')
    if number < minimum:
        raise ConversionError(f'{field} ({number}) must be >= {minimum}')
    return number
