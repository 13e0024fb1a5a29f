"""Where a frame's per-pixel work runs: on the host in numpy, or on the model's device in torch.

`DepthPipeline` speaks to one interface and does not care which: `HostMaps` wraps the numpy
reference (the CPU path, and every estimator without device output); `DeviceMaps` keeps the
relative map on the estimator's device (CUDA), fits on the host with the one numpy fit (its
samples, region statistics and extrinsic check read the relative map, a single small copy), applies
the fit and back-projects on the device, and copies back, in one copy, only what is published.
"""
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from depthmaster_ros.alignment import AlignmentRecord, apply_alignment, fit_to_sparse_depth
from depthmaster_ros.geometry import depth_to_points, depth_to_points_with_colors

if TYPE_CHECKING:
    import torch

    from depthmaster_ros.config import AlignmentSettings, OutputSettings
    from depthmaster_ros.geometry import CameraModel


def resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaging resize on the host (OpenCV is imported only when a frame needs it)."""
    if image.shape[:2] == (height, width):
        return image
    import cv2
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


class _Maps:
    """What both paths do alike: the one numpy fit on the host map, the one `apply_alignment` where the map is."""

    relative: Any

    def host(self) -> np.ndarray:
        raise NotImplementedError

    def fit(self, sparse_depth: np.ndarray, space: str, settings: 'AlignmentSettings', focal_px: float | None = None,
            check_extrinsic: bool = False, sample_pixels: np.ndarray | None = None,
            start: tuple[float, float] | None = None) -> AlignmentRecord:
        return fit_to_sparse_depth(self.host(), space, sparse_depth, min_depth=settings.min_depth,
                                   max_depth=settings.max_depth, min_points=settings.min_points,
                                   method=settings.alignment_method, focal_px=focal_px,
                                   check_extrinsic=check_extrinsic, sample_pixels=sample_pixels, start=start)

    def metric(self, space: str, scale: float | np.ndarray, shift: float | np.ndarray, settings: 'AlignmentSettings') -> Any:
        """Metres from a scale and shift, or from HxW scale and shift maps (local alignment), where the map is."""
        return apply_alignment(self.relative, space, scale, shift, min_depth=settings.min_depth,
                               max_depth=settings.max_depth)


class HostMaps(_Maps):
    """The numpy reference path."""

    def __init__(self, relative: np.ndarray):
        self.relative = np.asarray(relative, dtype=np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        result: tuple[int, int] = self.relative.shape
        return result

    def resized(self, height: int, width: int) -> 'HostMaps':
        return HostMaps(resize_area(self.relative, height, width))

    def host(self) -> np.ndarray:
        """The relative map as a numpy array (what the alignment modes and the fit read)."""
        result: np.ndarray = self.relative
        return result

    def publish(self, depth_m: np.ndarray | None, camera: 'CameraModel | None', rgb: np.ndarray,
                output: 'OutputSettings') -> tuple[np.ndarray | None, np.ndarray | None,
                                                   np.ndarray | None, np.ndarray | None]:
        """(depth, relative, points, colors) as numpy arrays; points only when the cloud is published."""
        points = colors = None
        if output.publish_cloud and depth_m is not None and camera is not None:
            if output.cloud_rgb:
                points, colors = depth_to_points_with_colors(depth_m, rgb, camera, output.cloud_stride,
                                                             output.cloud_organized)
            else:
                points = depth_to_points(depth_m, camera, output.cloud_stride, output.cloud_organized)
        return depth_m, self.relative, points, colors


class DeviceMaps(_Maps):
    """The relative map as a (H, W) float32 tensor on the estimator's device."""

    def __init__(self, relative: 'torch.Tensor'):
        self.relative = relative
        self._host: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return cast('tuple[int, int]', tuple(self.relative.shape))

    def resized(self, height: int, width: int) -> 'DeviceMaps':
        """Area averaging on the device (torch's `area`: equal to OpenCV's INTER_AREA for integer ratios)."""
        if self.shape == (height, width):
            return self
        import torch.nn.functional as F
        return DeviceMaps(F.interpolate(self.relative[None, None], size=(height, width), mode='area')[0, 0])

    def host(self) -> np.ndarray:
        """A host copy of the relative map, made once (the fit and the floor selection read it)."""
        if self._host is None:
            from .device_postprocess import to_host
            self._host = to_host(self.relative)
        return self._host

    def publish(self, depth_m: 'torch.Tensor | None', camera: 'CameraModel | None', rgb: np.ndarray,
                output: 'OutputSettings') -> tuple[np.ndarray | None, np.ndarray | None,
                                                   np.ndarray | None, np.ndarray | None]:
        """(depth, relative, points, colors): back-projection on the device, then one copy back.

        The relative map is copied only when it is published (else None); an unorganised cloud
        comes back organised and loses its NaN rows on the host.
        """
        from .device_postprocess import copy_back
        cloud = (depth_to_points(depth_m, camera, output.cloud_stride)
                 if output.publish_cloud and depth_m is not None and camera is not None else None)
        relative = self.relative if output.publish_relative else None
        depth, relative_host, points = copy_back([depth_m, relative, cloud])
        colors = None
        if points is not None:
            colors = rgb[::output.cloud_stride, ::output.cloud_stride] if output.cloud_rgb else None
            if not output.cloud_organized:
                valid = np.isfinite(points[..., 2])
                points = points[valid]
                colors = None if colors is None else colors[valid]
        return depth, relative_host, points, colors
