"""Frames in: host uint8 arrays, or uint8 tensors already on the estimator's device.

A device tensor skips the host upload, so a caller can copy the next frame on a side stream while
the model runs on the current one. A tensor on another device is refused rather than moved: a hidden
copy would undo exactly what the caller arranged.
"""
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch

from .errors import ModelError
from .sizing import check_image_layout

BATCH_LAYOUT = ('B', 'H', 'W', '3')
IMAGE_LAYOUT = ('H', 'W', '3')


def canonical_device(device: str | torch.device) -> torch.device:
    """`cuda` means the current CUDA device; compare with its index filled in."""
    device = torch.device(device)
    if device.type == 'cuda' and device.index is None:
        return torch.device('cuda', torch.cuda.current_device())
    return device


def check_frames(frames: np.ndarray | torch.Tensor, device: str | torch.device, name: str = 'frames',
                 batched: bool = True) -> np.ndarray | torch.Tensor:
    """`frames` itself, or ValueError naming `name`: uint8 [B,]H,W,3, a numpy array or a tensor on `device`."""
    layout = BATCH_LAYOUT if batched else IMAGE_LAYOUT
    if isinstance(frames, torch.Tensor):
        if canonical_device(frames.device) != canonical_device(device):
            raise ModelError(f'{name}: tensor is on {frames.device} but the estimator runs on {device}; '
                             'pass a tensor on that device or a host numpy array')
        return check_image_layout(frames, frames.dtype == torch.uint8, layout, name)
    if isinstance(frames, np.ndarray):
        return check_image_layout(frames, frames.dtype == np.uint8, layout, name)
    raise ModelError(f'{name}: expected a uint8 numpy array or a uint8 tensor on {device}, '
                     f'got {type(frames).__name__}')


def stack_frames(frames: Sequence[np.ndarray] | Sequence[torch.Tensor]) -> np.ndarray | torch.Tensor:
    """Same-size frames of one kind -> one [B,H,W,3] array or tensor (tensors stay on their device)."""
    if isinstance(frames[0], torch.Tensor):
        return torch.stack(list(cast(Sequence[torch.Tensor], frames)))
    return np.stack(frames)

