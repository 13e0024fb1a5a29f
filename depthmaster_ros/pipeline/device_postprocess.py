"""Per-pixel post-processing on the model's device, so a frame leaves the GPU once, as what is published.

The numpy modules stay the reference (alignment/fit.py, geometry/backprojection.py); this module
mirrors their per-pixel work operation for operation on torch tensors, batched over frames
(B, H, W) and unchanged on CPU and CUDA tensors:

- the fit's samples: the candidate pixels come from the sparse depth image, which the host already
  holds (LiDAR projection and the ground plane are host work); the relative values at those pixels
  are gathered on the device and copied back (a few thousand floats), and the one numpy fit
  (`fit.fit_scale_shift`) runs on them, with the same sample rules and thinning as
  `fit.align_to_sparse_depth`, so the fit is the reference's own;
- applying the fit (`apply_alignment`) and the back-projection (`depth_to_points`) per pixel;
- `copy_back`: the published arrays of a frame in one device-to-host copy through pinned memory.
"""
from collections.abc import Sequence

import numpy as np
import torch

from depthmaster_ros.alignment.fit import (DEFAULT_SEED, SPACES, AlignmentResult, fit_scale_shift,
                                           open_interval_bounds, thin_samples, to_space)


def _check_space(space: str) -> None:
    if space not in SPACES:
        raise ValueError(f'space: expected one of {SPACES}, got {space!r}')


def to_device(array: np.ndarray, device, pin: bool = True) -> torch.Tensor:
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
    arrays, start = [], 0
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


def apply_alignment(relative: torch.Tensor, space: str, scale, shift, min_depth: float = 0.1,
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


def depth_to_points(depth: torch.Tensor, camera, stride: int = 1, organized: bool = True):
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


def sample_candidates(sparse_depth: np.ndarray, min_depth: float, max_depth: float) -> np.ndarray:
    """Flat pixel indices where the sparse depth lies strictly inside the limits (fit.sample_indices' rule)."""
    low, high = open_interval_bounds(sparse_depth.dtype, min_depth, max_depth)
    flat = sparse_depth.ravel()
    index = np.flatnonzero(flat > low)
    return index[flat[index] < high]


def gather_at(relative: torch.Tensor, indices: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Per frame of a (B,H,W) tensor, its values at the given flat pixels: one gather, one small copy."""
    batch, _ = _batched(relative, 'relative')
    pixels = batch.shape[1] * batch.shape[2]
    counts = [len(index) for index in indices]
    if sum(counts) == 0:
        return [np.zeros(0, np.float32) for _ in indices]
    flat = np.concatenate([np.asarray(index, np.int64) + frame * pixels for frame, index in enumerate(indices)])
    values = to_host(batch.reshape(-1)[to_device(flat, batch.device)].to(torch.float32))
    return np.split(values, np.cumsum(counts)[:-1])


def fit_samples(relative_values: np.ndarray, candidates: np.ndarray, sparse_depth: np.ndarray, space: str, *,
                min_points: int = 20, max_points: int = 5000, seed: int = DEFAULT_SEED) -> AlignmentResult:
    """fit.align_to_sparse_depth's fit from the relative values at the candidate pixels.

    The samples are the candidates whose relative value is finite, thinned to max_points with the
    same seeded rule, so the result equals the reference's on the whole image.
    """
    index = thin_samples(candidates[np.isfinite(relative_values)], max_points, seed)
    lookup = np.searchsorted(candidates, index)
    pred = relative_values[lookup].astype(np.float64)
    target = to_space(sparse_depth.ravel()[index], space)
    return fit_scale_shift(pred, target, space, min_points=min_points, seed=seed)


def align_batch(relative: torch.Tensor, space: str, sparse_depths: Sequence[np.ndarray | None], *,
                min_depth: float = 0.1, max_depth: float = 100.0, min_points: int = 20,
                max_points: int = 5000, seed: int = DEFAULT_SEED) -> list[AlignmentResult | None]:
    """The fit of every frame of a (B,H,W) device batch against its host sparse depth (None: no fit)."""
    _check_space(space)
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    batch, _ = _batched(relative, 'relative')
    candidates = []
    for frame, sparse in enumerate(sparse_depths):
        if sparse is None:
            candidates.append(np.zeros(0, np.int64))
            continue
        if sparse.shape != tuple(batch.shape[1:]):
            raise ValueError(f'sparse_depth[{frame}]: shape {sparse.shape} differs from relative shape '
                             f'{tuple(batch.shape[1:])}')
        candidates.append(sample_candidates(sparse, min_depth, max_depth))
    values = gather_at(batch, candidates)
    return [None if sparse is None else
            fit_samples(value, candidate, sparse, space, min_points=min_points, max_points=max_points, seed=seed)
            for value, candidate, sparse in zip(values, candidates, sparse_depths)]
