"""Numeric array arguments of the ROS-free core: anything unusable becomes a ValueError naming it."""
import sys

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .errors import GeometryError

IMAGE = (None, None)        # H x W
POINTS = (None, 3)          # N x 3


def float_array(values: ArrayLike, field: str, shape: tuple[int | None, ...],
                dtype: DTypeLike | None = None) -> np.ndarray:
    """values as a float ndarray of the given shape (None = any size along that axis).

    dtype None keeps float32 and float64 as they are (no per-pixel conversion) and widens anything
    else to float64; a dtype casts to it.
    """
    try:
        array = np.asarray(values, dtype=dtype)
        if dtype is None and array.dtype not in (np.float32, np.float64):
            array = array.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise GeometryError(f'{field}: not numeric ({error})') from None
    if array.ndim != len(shape) or any(want is not None and want != got for want, got in zip(shape, array.shape)):
        expected = 'a 2-D image' if shape == IMAGE else 'an Nx3 array' if shape == POINTS else f'shape {shape}'
        raise GeometryError(f'{field}: expected {expected}, got shape {array.shape}')
    return array


def is_tensor(values: object) -> bool:
    """Whether values is a torch tensor, without importing torch (a tensor exists only once torch was imported)."""
    torch = sys.modules.get('torch')
    return torch is not None and isinstance(values, torch.Tensor)


def float64_array(values: object, field: str) -> np.ndarray:
    """values as a float64 ndarray of any shape, or a ValueError naming the field."""
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GeometryError(f'{field}: not numeric ({error})') from None
