"""`apply_alignment` on torch tensors (apply.py dispatches here): the numpy rule, operation for operation.

Batched over frames (B, H, W) and unchanged on CPU and CUDA tensors; imported only for a tensor.
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .errors import AlignmentError
from .spaces import Space


def _batched(values: torch.Tensor, field: str) -> tuple[torch.Tensor, bool]:
    """(B,H,W) view of a (H,W) or (B,H,W) tensor and whether it was a single image."""
    if values.dim() == 2:
        return values.unsqueeze(0), True
    if values.dim() == 3:
        return values, False
    raise AlignmentError(f'{field}: expected a (H,W) image or a (B,H,W) batch, got shape {tuple(values.shape)}')


def _per_frame(values: Any, batch: int, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, batch)
    if array.size != batch:
        raise AlignmentError(f'{field}: expected one value or {batch}, got {array.size}')
    return array


def apply_on_tensor(relative: torch.Tensor, space: Space, scale: float | Sequence[float] | np.ndarray,
                    shift: float | Sequence[float] | np.ndarray, min_depth: float, max_depth: float) -> torch.Tensor:
    """Float32 metres on relative's device; HxW scale and shift maps (local alignment) are uploaded and
    applied first, then the line is the identity."""
    if np.ndim(scale) == 2:
        factors = torch.from_numpy(np.stack([scale, shift]).astype(np.float32)).to(relative.device)
        relative = relative.to(torch.float32) * factors[0] + factors[1]
        scale, shift = 1.0, 0.0
    batch, single = _batched(relative, 'relative')
    count = batch.shape[0]
    scale, shift = _per_frame(scale, count, 'scale'), _per_frame(shift, count, 'shift')
    finite = np.isfinite(scale) & np.isfinite(shift)
    # Rounded to float32 on the host exactly as the numpy path does (np.float32(scale)).
    factors = torch.from_numpy(np.stack([np.where(finite, scale, 0.0), np.where(finite, shift, 0.0)])
                               .astype(np.float32)).to(batch.device).reshape(2, count, 1, 1)
    depth = batch.to(torch.float32) * factors[0] + factors[1]
    invalid = depth <= 0
    if space == Space.DISPARITY:
        depth = torch.reciprocal(depth)
    elif space == Space.SQRT_DISPARITY:
        depth = torch.reciprocal(depth * depth)
    min32, max32 = np.float32(min_depth), np.float32(max_depth)
    invalid |= (depth < float(min32)) | (depth > float(max32))
    if not min32 > 0:
        invalid |= depth <= 0
    if not np.isfinite(max32):
        invalid |= torch.isinf(depth)
    if not finite.all():
        invalid |= torch.from_numpy(~finite).to(batch.device).reshape(count, 1, 1)
    depth = torch.where(invalid, torch.full_like(depth, float('nan')), depth)
    return depth[0] if single else depth
