"""`depth_to_points` on torch tensors (backprojection.py dispatches here): the numpy rule on the device.

Batched over frames (B, H, W) and unchanged on CPU and CUDA tensors; the camera's rays are uploaded
once per camera, stride and device. Imported only for a tensor.
"""
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import GeometryError

if TYPE_CHECKING:
    from depthmaster_ros.geometry.camera_model import CameraModel

_RAYS: dict[tuple[object, ...], torch.Tensor] = {}
_RAYS_CACHE_SIZE = 16


def _device_rays(camera: 'CameraModel', stride: int, device: torch.device) -> torch.Tensor:
    """CameraModel.pixel_rays uploaded once per camera, stride and device (float32)."""
    key = (camera.cache_key(), stride, str(device))
    rays = _RAYS.get(key)
    if rays is None:
        rays = torch.from_numpy(np.array(camera.pixel_rays(stride), dtype=np.float32)).to(device)
        if len(_RAYS) >= _RAYS_CACHE_SIZE:
            _RAYS.pop(next(iter(_RAYS)))
        _RAYS[key] = rays
    return rays


def points_on_tensor(depth: torch.Tensor, camera: 'CameraModel', stride: int,
                     organized: bool) -> torch.Tensor | list[torch.Tensor]:
    """(h',w',3) or (B,h',w',3) float32, NaN where invalid; organized=False: the valid points only, (N,3)
    for one image, a list of them for a batch (on CUDA that costs a synchronisation; the pipeline copies
    the organised cloud back instead and drops the NaN rows on the host)."""
    if depth.dim() not in (2, 3):
        raise GeometryError(f'depth: expected a (H,W) image or a (B,H,W) batch, got shape {tuple(depth.shape)}')
    single = depth.dim() == 2
    batch = depth.unsqueeze(0) if single else depth
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
