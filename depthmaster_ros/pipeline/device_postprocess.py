"""Host <-> device copies of the device per-pixel path, so a frame leaves the GPU once, as what is published.

The per-pixel work itself has one public function per job, whatever the array: `apply_alignment`
(alignment/apply.py) and `depth_to_points` (geometry/backprojection.py) keep a tensor on its device.
The fit is not on the device: it reads the relative map at its samples, over image regions (the scale
uncertainty) and at shifted pixels (the extrinsic check), so `frame_maps.DeviceMaps` copies the map to
the host once (`to_host`) and runs the one numpy fit on it. `copy_back`: the published arrays of a
frame in one device-to-host copy through pinned memory.
"""
from collections.abc import Sequence

import numpy as np
import torch


def to_host(tensor: torch.Tensor) -> np.ndarray:
    """device tensor -> numpy (a pinned staging copy on CUDA; the copy synchronises)."""
    if tensor.device.type == 'cuda':
        staging = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        staging.copy_(tensor, non_blocking=True)
        torch.cuda.current_stream(tensor.device).synchronize()
        return staging.numpy()
    return tensor.detach().numpy()


def copy_back(tensors: Sequence[torch.Tensor | None]) -> list[np.ndarray | None]:
    """Float32 device tensors -> numpy arrays of the same shapes, in one device-to-host copy.

    None entries stay None; the arrays are views of one host buffer.
    """
    present = [tensor for tensor in tensors if tensor is not None]
    if not present:
        return [None] * len(tensors)
    flat = torch.cat([tensor.reshape(-1).to(torch.float32) for tensor in present])
    host = to_host(flat)
    arrays: list[np.ndarray | None] = []
    start = 0
    for tensor in tensors:
        if tensor is None:
            arrays.append(None)
            continue
        arrays.append(host[start:start + tensor.numel()].reshape(tuple(tensor.shape)))
        start += tensor.numel()
    return arrays
