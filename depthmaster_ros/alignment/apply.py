"""Fitted values to metres, the one place: `apply_alignment` on a numpy image or a torch tensor.

A numpy image is mapped here in numpy; a torch tensor stays on its device and is mapped by
apply_torch.py (imported only then, so the numpy path never imports torch). Both compute in float32
with the same rule, bit for bit: a pixel is valid where s * p + t > 0 and its depth is finite,
positive and within [min_depth, max_depth]; everything else is NaN.
"""
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.geometry import IMAGE, float_array, is_tensor

from .spaces import Space, check_space

if TYPE_CHECKING:
    import torch


@overload
def apply_alignment(relative: 'torch.Tensor', space: str, scale: Any, shift: Any, min_depth: float = 0.1,
                    max_depth: float = 100.0) -> 'torch.Tensor': ...


@overload
def apply_alignment(relative: ArrayLike, space: str, scale: Any, shift: Any, min_depth: float = 0.1,
                    max_depth: float = 100.0) -> np.ndarray: ...


def apply_alignment(relative: Any, space: str, scale: Any, shift: Any, min_depth: float = 0.1,
                    max_depth: float = 100.0) -> Any:
    """Metres from fitted values: f^-1(scale * relative + shift), float32, NaN outside [min_depth, max_depth].

    relative: an HxW numpy image, or a (H,W) or (B,H,W) torch tensor (the result stays on its device).
    scale and shift: numbers, HxW maps (local alignment), or for a tensor batch one number per frame.
    A scale or shift that is not finite gives an all-NaN image (per frame for a batch).
    """
    checked = check_space(space)
    if is_tensor(relative):
        from .apply_torch import apply_on_tensor
        return apply_on_tensor(relative, checked, scale, shift, min_depth, max_depth)
    return _apply_on_array(float_array(relative, 'relative', IMAGE), checked, scale, shift, min_depth, max_depth)


def _from_space_in_place(values: np.ndarray, space: Space) -> np.ndarray:
    if space == Space.DISPARITY:
        np.reciprocal(values, out=values)
    elif space == Space.SQRT_DISPARITY:
        np.multiply(values, values, out=values)
        np.reciprocal(values, out=values)
    return values


def _apply_on_array(relative: np.ndarray, space: Space, scale: Any, shift: Any, min_depth: float,
                    max_depth: float) -> np.ndarray:
    if not (np.all(np.isfinite(scale)) and np.all(np.isfinite(shift))):
        return np.full(relative.shape, np.nan, np.float32)
    with np.errstate(all='ignore'):
        scale32, shift32 = np.asarray(scale, np.float32), np.asarray(shift, np.float32)
        min32, max32 = np.float32(min_depth), np.float32(max_depth)
        depth = np.multiply(relative, scale32, dtype=np.float32)
        depth += shift32
        invalid = depth <= 0                      # NaN values stay NaN through every step below
        _from_space_in_place(depth, space)
        outside = np.less(depth, min32)           # one temporary for both limits
        invalid |= outside
        invalid |= np.greater(depth, max32, out=outside)
        if not min32 > 0:
            invalid |= depth <= 0
        if not np.isfinite(max32):
            invalid |= np.isinf(depth)
    depth[invalid] = np.float32(np.nan)
    result: np.ndarray = depth
    return result
