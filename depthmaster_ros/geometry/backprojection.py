"""Depth image -> 3-D points in the camera optical frame, distortion honoured.

Each pixel centre's undistorted ray (x/z, y/z, 1) is computed once per camera, size and stride
(CameraModel.pixel_rays) and scaled by the depth, which is z along the optical axis (REP 118).
"""
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.geometry.array_checks import IMAGE, float_array, is_tensor

from .errors import GeometryError

if TYPE_CHECKING:
    import torch

    from depthmaster_ros.geometry.camera_model import CameraModel


def _depth_image(depth: ArrayLike) -> np.ndarray:
    return float_array(depth, 'depth', IMAGE, np.float32)


@overload
def depth_to_points(depth: 'torch.Tensor', camera: 'CameraModel', stride: int = 1,
                    organized: bool = True) -> Any: ...


@overload
def depth_to_points(depth: ArrayLike, camera: 'CameraModel', stride: int = 1, organized: bool = True) -> np.ndarray: ...


def depth_to_points(depth: Any, camera: 'CameraModel', stride: int = 1, organized: bool = True) -> Any:
    """(h', w', 3) float32 with NaN rows for invalid pixels, or (N, 3) valid points only.

    h' = ceil(h / stride), w' = ceil(w / stride); pixels (0, 0), (0, stride), ... are kept, so an RGB
    image sliced as rgb[::stride, ::stride] lines up with the organised result. The camera is scaled
    to the depth image size when they differ. A torch tensor, (H,W) or a (B,H,W) batch, stays on its
    device (backprojection_torch.py; for a batch unorganised points are a list, one per frame).
    """
    stride = _checked_stride(stride)
    if is_tensor(depth):
        from .backprojection_torch import points_on_tensor
        return points_on_tensor(depth, camera, stride, organized)
    depth = _depth_image(depth)
    camera = camera.scaled(depth.shape[1], depth.shape[0])
    z = depth[::stride, ::stride]
    if not organized:
        return _valid_points(z, *camera.pixel_ray_planes(stride))
    rays = camera.pixel_rays(stride)
    with np.errstate(invalid='ignore'):
        valid = np.isfinite(z) & (z > 0)
    points = np.empty(z.shape + (3,), np.float32)
    points[..., 0] = rays[..., 0] * z
    points[..., 1] = rays[..., 1] * z
    points[..., 2] = z
    points[~valid] = np.nan
    return points


def _checked_stride(stride: int) -> int:
    stride = int(stride)
    if stride < 1:
        raise GeometryError(f'stride: must be >= 1, got {stride}')
    return stride


def _valid_points(z: np.ndarray, ray_x: np.ndarray, ray_y: np.ndarray) -> np.ndarray:
    """(N, 3) points of the valid depths only: gathered first, so the work scales with N, not the image."""
    with np.errstate(invalid='ignore'):
        valid = (z > 0) & (z < np.inf)
    depth = z[valid]
    points = np.empty((len(depth), 3), np.float32)
    np.multiply(ray_x[valid], depth, out=points[:, 0])
    np.multiply(ray_y[valid], depth, out=points[:, 1])
    points[:, 2] = depth
    return points


def depth_to_points_with_colors(depth: ArrayLike, rgb: ArrayLike, camera: 'CameraModel', stride: int = 1,
                                organized: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Points as depth_to_points plus the matching uint8 colours ((h', w', 3) or (N, 3))."""
    depth = _depth_image(depth)
    rgb = np.asarray(rgb)
    if rgb.shape[:2] != depth.shape or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise GeometryError(f'rgb: expected shape {depth.shape + (3,)}, got {rgb.shape}')
    points = depth_to_points(depth, camera, stride, organized=True)
    colors = rgb[::stride, ::stride]
    if organized:
        return points, colors
    valid = np.isfinite(points[..., 2])
    return points[valid], colors[valid]
