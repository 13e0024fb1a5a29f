"""The official size rule and input checks, free of torch so that callers which only need sizes
(the pipeline, the CLI's early checks) do not pay for importing it."""
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    import torch

# An image or batch checked in place: a numpy array, or a tensor (read only through .shape and .dtype).
Images = TypeVar('Images', np.ndarray, 'torch.Tensor')

# Below this the VAE encoder's three stride-2 convolutions leave nothing to decode.
MIN_PROCESSED_SIZE = 8


def processing_size(width: int, height: int, processing_res: int) -> tuple[int, int]:
    """(new_w, new_h) whose longer edge is `processing_res` (0 = native), truncated like the official code."""
    if isinstance(processing_res, bool) or not isinstance(processing_res, (int, np.integer)) or processing_res < 0:
        raise ModelError(f'processing_res: expected an integer >= 0 (0 = native), got {processing_res!r}')
    if processing_res == 0:
        return width, height
    factor = min(processing_res / width, processing_res / height)
    return int(width * factor), int(height * factor)


def validate_rgb(rgb: object, name: str = 'rgb') -> np.ndarray:
    """Reject anything but an (H, W, 3) uint8 array before torch sees it."""
    if not isinstance(rgb, np.ndarray):
        raise ModelError(f'{name}: expected a numpy array, got {type(rgb).__name__}')
    return check_image_layout(rgb, rgb.dtype == np.uint8, ('H', 'W', '3'), name)


def check_image_layout(images: Images, is_uint8: bool, layout: tuple[str, ...], name: str) -> Images:
    """Shape, dtype and emptiness checks shared by numpy arrays and tensors (duck-typed: no torch here)."""
    shape = tuple(images.shape)
    if len(shape) != len(layout) or shape[-1] != 3:
        raise ModelError(f'{name}: expected shape ({", ".join(layout)}), got {shape}')
    if not is_uint8:
        raise ModelError(f'{name}: expected dtype uint8, got {images.dtype}')
    if min(shape) < 1:
        raise ModelError(f'{name}: empty image of shape {shape}')
    return images


def check_processable(width: int, height: int, processing_res: int) -> tuple[int, int]:
    """The processed size, or ValueError if the network cannot take it."""
    new_w, new_h = processing_size(width, height, processing_res)
    if min(new_w, new_h) < MIN_PROCESSED_SIZE:
        raise ModelError(
            f'processing_res: {width}x{height} at processing_res={processing_res} becomes {new_w}x{new_h}; '
            f'both sides must be at least {MIN_PROCESSED_SIZE} pixels')
    return new_w, new_h
