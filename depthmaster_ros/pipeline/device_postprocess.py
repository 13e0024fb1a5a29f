"""Per-pixel post-processing on the model's device, so a frame leaves the GPU once, as what is published.

The numpy modules stay the reference (alignment/fit.py, geometry/backprojection.py); this module
mirrors their per-pixel work operation for operation on torch tensors, batched over frames
(B, H, W) and unchanged on CPU and CUDA tensors:

- the fit itself is not here: it reads the relative map at its samples, over image regions (the
  scale uncertainty) and at shifted pixels (the extrinsic check), so `frame_maps.DeviceMaps` copies
  the map to the host once and runs the one numpy fit (`fit.fit_to_sparse_depth`) on it;
- applying the fit (`apply_alignment`) and the back-projection (`depth_to_points`) per pixel;
- `copy_back`: the published arrays of a frame in one device-to-host copy through pinned memory.
"""
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, overload

import numpy as np
import torch

from depthmaster_ros.alignment.fit import SPACES

if TYPE_CHECKING:
    from depthmaster_ros.geometry.camera_model import CameraModel


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f'space: expected one of {SPACES}, got {space!r}')


def to_device(array: np.ndarray, device: torch.device | str, pin: bool = True) -> torch.Tensor:
    """numpy -> device tensor; on CUDA through pinned memory with a non-blocking copy."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    device = torch.device(device)
    if device.type == 'cuda' and pin:
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


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


def _batched(values: torch.Tensor, field: str) -> tuple[torch.Tensor, bool]:
    """(B,H,W) view of a (H,W) or (B,H,W) tensor and whether it was a single image."""
    if not isinstance(values, torch.Tensor):
        raise ValueError(f'{field}: expected a torch tensor, got {type(values).__name__}')
    if values.dim() == 2:
        return values.unsqueeze(0), True
    if values.dim() == 3:
        return values, False
    raise ValueError(f'{field}: expected a (H,W) image or a (B,H,W) batch, got shape {tuple(values.shape)}')


def _per_frame(values, batch: int, field: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, batch)
    if array.size != batch:
        raise ValueError(f'{field}: expected one value or {batch}, got {array.size}')
    return array


def apply_alignment(relative: torch.Tensor, space: str, scale: float | Sequence[float] | np.ndarray,
                    shift: float | Sequence[float] | np.ndarray, min_depth: float = 0.1,
                    max_depth: float = 100.0) -> torch.Tensor:
    """fit.apply_alignment on a tensor: float32 metres, NaN outside [min_depth, max_depth].

    relative is (H,W) or (B,H,W); scale and shift are numbers or one per frame (a frame whose fit
    is not finite comes out all NaN, as in the reference).
    """
    _check_space(space)
    batch, single = _batched(relative, 'relative')
    count = batch.shape[0]
    scale, shift = _per_frame(scale, count, 'scale'), _per_frame(shift, count, 'shift')
    finite = np.isfinite(scale) & np.isfinite(shift)
    # Rounded to float32 on the host exactly as the reference does (np.float32(scale)).
    factors = torch.from_numpy(np.stack([np.where(finite, scale, 0.0), np.where(finite, shift, 0.0)])
                               .astype(np.float32)).to(batch.device).reshape(2, count, 1, 1)
    depth = batch.to(torch.float32) * factors[0] + factors[1]
    invalid = depth <= 0
    if space == 'disparity':
        depth = torch.reciprocal(depth)
    elif space == 'sqrt_disparity':
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


_RAYS: dict = {}
_RAYS_CACHE_SIZE = 16


def _device_rays(camera, stride: int, device) -> torch.Tensor:
    """CameraModel.pixel_rays uploaded once per camera, stride and device (float32)."""
    key = (camera.cache_key(), stride, str(device))
    rays = _RAYS.get(key)
    if rays is None:
        rays = torch.from_numpy(np.array(camera.pixel_rays(stride), dtype=np.float32)).to(device)
        if len(_RAYS) >= _RAYS_CACHE_SIZE:
            _RAYS.pop(next(iter(_RAYS)))
        _RAYS[key] = rays
    return rays


@overload
def depth_to_points(depth: torch.Tensor, camera: 'CameraModel', stride: int = 1,
                    organized: Literal[True] = True) -> torch.Tensor: ...


@overload
def depth_to_points(depth: torch.Tensor, camera: 'CameraModel', stride: int = 1,
                    organized: bool = True) -> torch.Tensor | list[torch.Tensor]: ...


def depth_to_points(depth: torch.Tensor, camera: 'CameraModel', stride: int = 1,
                    organized: bool = True) -> torch.Tensor | list[torch.Tensor]:
    """backprojection.depth_to_points on a tensor: (h',w',3) or (B,h',w',3) float32, NaN where invalid.

    organized=False returns the valid points only: (N,3) for one image, a list of them for a batch
    (on CUDA that costs a synchronisation; the pipeline copies the organised cloud back instead and
    drops the NaN rows on the host).
    """
    batch, single = _batched(depth, 'depth')
    stride = int(stride)
    if stride < 1:
        raise ValueError(f'stride: must be >= 1, got {stride}')
    camera = camera.scaled(batch.shape[2], batch.shape[1])
    rays = _device_rays(camera, stride, batch.device)
    z = batch[:, ::stride, ::stride].to(torch.float32)
    valid = torch.isfinite(z) & (z > 0)
    points = torch.stack([rays[..., 0] * z, rays[..., 1] * z, z], dim=-1)
    if organized:
        points = torch.where(valid.unsqueeze(-1), points, torch.full_like(points, float('nan')))
        return points[0] if single else points
    valid_points = [frame[mask] for frame, mask in zip(points, valid)]
    return valid_points[0] if single else valid_points
