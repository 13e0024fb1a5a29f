"""Per-pixel post-processing in torch, so a prediction made on the GPU stays there until publication.

The per-pixel work mirrors the numpy reference (alignment/fit.py, backprojection.py): the same space
transforms, the same sample selection and the same back-projection rays, batched over frames
(B, H, W) for multi-camera batches, on CPU and CUDA tensors alike, in float32. The fit itself is not
duplicated: the few thousand samples of each frame are copied to the host and fitted by the numpy
reference (`alignment.fit.fit_scale_shift`), so there is one fit, one set of verdict rules and one
scale uncertainty.

Host round trips are the small, unavoidable ones: the indices of the valid samples (a few thousand
ints, for the seeded subsampling), the samples themselves, and the per-frame fit numbers.
"""
import numpy as np
import torch

from depthmaster_ros.alignment import fit as reference
from depthmaster_ros.alignment.fit import (DEFAULT_SEED, MAX_POINTS, MAX_SCALE_UNCERTAINTY, SPACES, open_interval_bounds,
                                           thin_samples)
from depthmaster_ros.alignment.uncertainty import grid_groups


def _check_space(space):
    if space not in SPACES:
        raise ValueError(f'space: expected one of {SPACES}, got {space!r}')


def _tensor(values, field):
    if isinstance(values, torch.Tensor):
        return values
    try:
        return torch.as_tensor(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError) as error:
        raise ValueError(f'{field}: not numeric ({error})') from None


def to_device(array, device, pin=True):
    """numpy -> device tensor; on CUDA through pinned memory with a non-blocking copy."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    device = torch.device(device)
    if device.type == 'cuda' and pin:
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def to_host(tensor):
    """device tensor -> numpy (a pinned staging copy on CUDA; the copy synchronises)."""
    if tensor.device.type == 'cuda':
        staging = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        staging.copy_(tensor, non_blocking=True)
        torch.cuda.current_stream(tensor.device).synchronize()
        return staging.numpy()
    return tensor.detach().numpy()


def to_space(depth_m, space):
    """Metres -> space values; NaN where the depth is not positive and finite."""
    _check_space(space)
    depth = _tensor(depth_m, 'depth_m')
    valid = torch.isfinite(depth) & (depth > 0)
    safe = torch.where(valid, depth, torch.ones_like(depth))
    if space == 'depth':
        values = safe
    elif space == 'disparity':
        values = 1.0 / safe
    else:
        values = torch.sqrt(1.0 / safe)
    return torch.where(valid, values, torch.full_like(values, float('nan')))


def from_space(values, space):
    """Space values -> metres; NaN where the inverse is not positive and finite."""
    _check_space(space)
    values = _tensor(values, 'values')
    valid = torch.isfinite(values) & (values > 0)
    safe = torch.where(valid, values, torch.ones_like(values))
    if space == 'depth':
        depth = safe
    elif space == 'disparity':
        depth = 1.0 / safe
    else:
        depth = 1.0 / (safe * safe)
    valid &= torch.isfinite(depth) & (depth > 0)
    return torch.where(valid, depth, torch.full_like(depth, float('nan')))


def _batched_images(values, field):
    """(B,H,W) view of a (H,W) or (B,H,W) tensor and whether it was a single image."""
    tensor = _tensor(values, field)
    if tensor.dim() == 2:
        return tensor.unsqueeze(0), True
    if tensor.dim() == 3:
        return tensor, False
    raise ValueError(f'{field}: expected a (H,W) image or a (B,H,W) batch, got shape {tuple(tensor.shape)}')


def _per_frame(values, batch, reference, field):
    """Scale or shift as a (B,1,1) float64 tensor on the reference's device."""
    tensor = torch.as_tensor(values, dtype=torch.float64).to(reference.device).reshape(-1)
    if tensor.numel() == 1:
        tensor = tensor.expand(batch)
    if tensor.numel() != batch:
        raise ValueError(f'{field}: expected one value or {batch}, got {tensor.numel()}')
    return tensor.reshape(batch, 1, 1)


def apply_alignment(relative, space, scale, shift, min_depth=0.1, max_depth=100.0):
    """Fitted values -> metres, float32, NaN outside [min_depth, max_depth] or where the fit is not finite.

    relative is (H,W) or (B,H,W); scale and shift are numbers or one per frame.
    """
    _check_space(space)
    batch, single = _batched_images(relative, 'relative')
    scale = _per_frame(scale, batch.shape[0], batch, 'scale')
    shift = _per_frame(shift, batch.shape[0], batch, 'shift')
    fit_finite = torch.isfinite(scale) & torch.isfinite(shift)
    values = scale.to(torch.float32) * batch.to(torch.float32) + shift.to(torch.float32)
    depth = from_space(values, space)
    keep = (depth >= min_depth) & (depth <= max_depth) & fit_finite
    depth = torch.where(keep, depth, torch.full_like(depth, float('nan'))).to(torch.float32)
    return depth[0] if single else depth


def _host(tensor):
    return tensor.detach().to('cpu').numpy()


def fit_scale_shift(pred, target, space='depth', *, valid=None, min_points=20, seed=DEFAULT_SEED,
                    max_scale_uncertainty=MAX_SCALE_UNCERTAINTY, groups=None, eval_pred=None):
    """Row by row, alignment.fit_scale_shift on the host copy of the samples: one AlignmentResult per row.

    Pairs where `valid` is False or either value is not finite are ignored. A 1-D input is one row.
    """
    _check_space(space)
    pred = _tensor(pred, 'pred').to(torch.float64)
    target = _tensor(target, 'target').to(torch.float64)
    if pred.shape != target.shape:
        raise ValueError(f'target: shape {tuple(target.shape)} differs from pred shape {tuple(pred.shape)}')
    if pred.dim() == 1:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
        valid = None if valid is None else _tensor(valid, 'valid').reshape(1, -1)
    if pred.dim() != 2:
        raise ValueError(f'pred: expected (N,) or (B,N) samples, got shape {tuple(pred.shape)}')
    if valid is not None:
        valid = _tensor(valid, 'valid').to(torch.bool)
        if valid.shape != pred.shape:
            raise ValueError(f'valid: shape {tuple(valid.shape)} differs from pred shape {tuple(pred.shape)}')
    pred_host, target_host = _host(pred), _host(target)
    valid_host = np.ones(pred_host.shape, bool) if valid is None else _host(valid)
    results = []
    for row in range(pred_host.shape[0]):
        keep = valid_host[row]
        row_groups = None if groups is None else np.asarray(groups[row])[keep]
        row_eval = None if eval_pred is None else eval_pred[row]
        results.append(reference.fit_scale_shift(pred_host[row][keep], target_host[row][keep], space,
                                                 min_points=min_points, seed=seed,
                                                 max_scale_uncertainty=max_scale_uncertainty,
                                                 groups=row_groups, eval_pred=row_eval))
    return results


def _sample_indices(valid, max_points, seed):
    """Per frame, the flat indices the reference fits on: all valid ones, or its seeded subsample."""
    rows = []
    for mask in valid.reshape(valid.shape[0], -1):
        index = torch.nonzero(mask).squeeze(1).cpu().numpy()   # = np.flatnonzero, only the indices cross
        rows.append(thin_samples(index, max_points, seed))
    width = max(1, max(len(index) for index in rows))
    padded = np.zeros((len(rows), width), np.int64)
    present = np.zeros((len(rows), width), bool)
    for row, index in enumerate(rows):
        padded[row, :len(index)] = index
        present[row, :len(index)] = True
    return padded, present


def align_to_sparse_depth(relative, space, sparse_depth, *, min_depth=0.1, max_depth=100.0,
                          min_points=20, max_points=MAX_POINTS, seed=DEFAULT_SEED):
    """Batched alignment.align_to_sparse_depth on tensors: (metric float32, AlignmentResult or list).

    relative and sparse_depth are (H,W) or (B,H,W) (sparse NaN where empty), on the same device; a
    single image gives a single result, a batch a list.
    """
    _check_space(space)
    relative, single = _batched_images(relative, 'relative')
    sparse, _ = _batched_images(sparse_depth, 'sparse_depth')
    sparse = sparse.to(relative.device)
    if sparse.shape != relative.shape:
        raise ValueError(f'sparse_depth: shape {tuple(sparse.shape)} differs from relative shape '
                         f'{tuple(relative.shape)}')
    if not (0 <= min_depth < max_depth):
        raise ValueError(f'min_depth/max_depth: need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    low, high = open_interval_bounds(np.float32 if sparse.dtype == torch.float32 else np.float64, min_depth, max_depth)
    valid = (sparse > low) & (sparse < high) & torch.isfinite(relative)      # as alignment.sample_indices
    index, present = _sample_indices(valid, max_points, seed)
    index = torch.from_numpy(index).to(relative.device)
    present = torch.from_numpy(present).to(relative.device)
    pred = relative.reshape(relative.shape[0], -1).gather(1, index).to(torch.float64)
    target = to_space(sparse.reshape(sparse.shape[0], -1).gather(1, index).to(torch.float64), space)
    index_host = _host(index)
    groups = [grid_groups(row, relative.shape[1:]) for row in index_host]
    stride = reference.EVALUATION_STRIDE
    strided = _host(relative[:, ::stride, ::stride])
    eval_pred = [reference.evaluation_points(frame, stride=1) for frame in strided]
    results = fit_scale_shift(pred, target, space, valid=present, min_points=min_points, seed=seed,
                              groups=groups, eval_pred=eval_pred)
    scale = [result.scale if result.ok else float('nan') for result in results]
    shift = [result.shift if result.ok else float('nan') for result in results]
    metric = apply_alignment(relative, space, scale, shift, min_depth, max_depth)
    return (metric[0], results[0]) if single else (metric, results)


_RAYS = {}
_RAYS_CACHE_SIZE = 16


def _device_rays(camera, stride, device):
    """CameraModel.pixel_rays uploaded once per camera, stride and device (float32)."""
    key = (camera.cache_key(), stride, str(device))
    rays = _RAYS.get(key)
    if rays is None:
        rays = torch.from_numpy(np.array(camera.pixel_rays(stride), dtype=np.float32)).to(device)
        if len(_RAYS) >= _RAYS_CACHE_SIZE:
            _RAYS.pop(next(iter(_RAYS)))
        _RAYS[key] = rays
    return rays


def depth_to_points(depth, camera, stride=1, organized=True):
    """backprojection.depth_to_points on a tensor: (h',w',3) or (B,h',w',3) float32, NaN where invalid.

    organized=False returns the valid points only: (N,3) for one image, a list of them for a batch.
    """
    batch, single = _batched_images(depth, 'depth')
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
