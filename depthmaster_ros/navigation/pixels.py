"""The pixels both navigation outputs trust, and their points in a target frame.

Both outputs work on every `stride`-th pixel (a (rows, columns) pair): a costmap cell or a scan beam
spans several pixels, so sampling them all costs time and adds nothing. A pixel is used when its depth is finite and positive,
its confidence reaches `min_confidence`, and it is not a flying pixel: the model's map is resized back
to the image with antialiasing, which blends a foreground edge with its background into depths that
belong to neither, so a pixel whose depth jumps to a neighbour by more than `edge_threshold`
(relative to the nearer one) is dropped when it is the farther of the two (flying_pixels).

A pixel's point in a frame is its depth times its ray (CameraModel.pixel_rays: distortion honoured)
turned into that frame, plus the frame's offset: the rays are turned once per camera and rotation,
so a frame costs one multiply-add per coordinate and point. The sampled grid is worked on whole, its
unusable pixels NaN (which every comparison after it rejects), and pixels are picked out by index
only where an output keeps few of them: a dense multiply-add costs a fraction of a gather. Depth may
be a numpy array or, for a frame kept on the GPU, a torch tensor: the work then stays on its device
(arrays.py).
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from depthmaster_ros.config import Config, NavigationSettings
from depthmaster_ros.geometry import IMAGE, CameraModel, RigidTransform, float_array

from .arrays import HOST, HostOps, ops_for
from .errors import NavigationError

Columns = tuple[Any, Any, Any]      # x, y, z: ndarrays, or tensors on the frame's device
_CACHE_SIZE = 16


def default_settings(settings: NavigationSettings | None) -> NavigationSettings:
    """The node's defaults from the parameter table when settings is None."""
    return Config.from_params({}).navigation if settings is None else settings


@dataclass(frozen=True)
class SampledPixels:
    """Pixels of depth[::rows, ::columns]: the whole grid (index None; unusable pixels NaN) or the ones at
    `index`, flat indices into that grid."""
    camera: CameraModel          # the camera of the sampled grid (sampled_camera)
    index: Any                   # None (every pixel of the grid), or integer flat indices (ndarray or tensor)
    depth: Any                   # float32 metres, z in the optical frame, flat
    ops: HostOps = HOST          # numpy's or torch's operations

    def subset(self, keep: Any) -> 'SampledPixels':
        """The pixels at keep (integer positions among these pixels)."""
        index = keep if self.index is None else self.index[keep]
        return SampledPixels(self.camera, index, self.depth[keep], self.ops)

    def picked(self, plane: Any) -> Any:
        """A per-pixel constant of the sampled grid (flat) at these pixels: the plane itself for the whole grid."""
        return plane if self.index is None else plane[self.index]


def usable_pixels(depth_m: Any, camera: CameraModel, stride: tuple[int, int], min_confidence: float,
                  edge_threshold: float, confidence: Any = None) -> SampledPixels:
    """The sampled grid (every stride = (rows, columns)-th pixel), NaN where a pixel is invalid, not confident
    enough or flying."""
    ops = ops_for(depth_m)
    depth = checked_depth(depth_m, ops)
    sampled = ops.copy(depth[::stride[0], ::stride[1]])      # contiguous (faster to test) and ours to write
    with np.errstate(invalid='ignore'):
        usable = (sampled > 0) & (sampled < np.inf)
        if confidence is not None and min_confidence > 0:
            trust = confidence if ops is not HOST and ops_for(confidence) is ops else \
                ops.from_host(float_array(confidence, 'confidence', IMAGE))
            if tuple(trust.shape) != tuple(depth.shape):
                raise NavigationError(f'confidence: expected shape {tuple(depth.shape)}, got {tuple(trust.shape)}')
            usable &= trust[::stride[0], ::stride[1]] >= min_confidence
        if edge_threshold > 0:
            usable &= ~flying_pixels(depth, edge_threshold, stride, sampled)
    sampled[~usable] = np.nan
    return SampledPixels(sampled_camera(camera, tuple(depth.shape), stride), None, sampled.reshape(-1), ops)


def checked_depth(depth_m: Any, ops: HostOps) -> Any:
    """A 2-D float32 depth image (a ValueError names what is wrong); tensors stay on their device."""
    if ops is HOST:
        return float_array(depth_m, 'depth_m', IMAGE, np.float32)
    if depth_m.ndim != 2 or not depth_m.is_floating_point():
        raise NavigationError(f'depth_m: expected a 2-D float image, got shape {tuple(depth_m.shape)} {depth_m.dtype}')
    return depth_m.float()


def flying_pixels(depth: Any, threshold: float, stride: tuple[int, int] = (1, 1), centre: Any = None) -> Any:
    """Mask of depth[::rows, ::columns] (stride): True where a sampled pixel is farther than one of its four
    direct neighbours (in the full image) by more than threshold x that neighbour's depth.

    Only the farther side of a jump is dropped: along a blended edge every in-between pixel is farther
    than its neighbour on the foreground side, so all of them go, while the foreground's own border,
    and with it thin legs and poles a pixel wide, stays. Direct neighbours, whatever the stride: a
    surface seen at a grazing angle changes its depth by a small share per pixel, a blended edge by
    much more, and the test costs a few operations of the sampled size. Invalid neighbours are ignored.
    centre: depth[::rows, ::columns] when the caller has it already (a contiguous copy).
    """
    ops = ops_for(depth)
    row_step, col_step = stride
    centre = depth[::row_step, ::col_step] if centre is None else centre
    nearest = ops.full(tuple(centre.shape), np.nan)
    with np.errstate(invalid='ignore'):
        for dv, du in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            rows = _with_neighbour(depth.shape[0], centre.shape[0], row_step, dv)
            cols = _with_neighbour(depth.shape[1], centre.shape[1], col_step, du)
            target = nearest[rows[0]:rows[1], cols[0]:cols[1]]
            neighbour = depth[rows[0] * row_step + dv:(rows[1] - 1) * row_step + dv + 1:row_step,
                              cols[0] * col_step + du:(cols[1] - 1) * col_step + du + 1:col_step]
            ops.fmin_into(target, neighbour)
        return centre > nearest * (1.0 + threshold)


def _with_neighbour(size: int, samples: int, stride: int, step: int) -> tuple[int, int]:
    """[first, end) of the sampled indices whose full-image neighbour at offset step (-1, 0, 1) exists."""
    if step < 0:
        return 1, samples
    if step > 0:
        return 0, min(samples, (size - 1 - step) // stride + 1)
    return 0, samples


def sampled_camera(camera: CameraModel, depth_shape: tuple[int, ...], stride: tuple[int, int]) -> CameraModel:
    """The camera of the pixels depth[::rows, ::columns] (stride): their centres, exactly (not a resize)."""
    camera = camera.scaled(depth_shape[1], depth_shape[0])
    if stride == (1, 1):
        return camera
    key = (camera.cache_key(), stride)
    cached = _SAMPLED.get(key)
    if cached is None:
        shrink = np.diag([1.0 / stride[1], 1.0 / stride[0], 1.0])
        cached = CameraModel(-(-camera.width // stride[1]), -(-camera.height // stride[0]), shrink @ camera.K, camera.D,
                             camera.distortion_model, shrink @ camera.P, camera.R)
        _remember(_SAMPLED, key, cached)
    return cached


def points_in(pixels: SampledPixels, camera_to_frame: RigidTransform) -> Columns:
    """x, y, z columns (float32) of the pixels' points in the frame camera_to_frame maps into."""
    x, y, z = (coordinate_in(pixels, camera_to_frame, axis) for axis in range(3))
    return x, y, z


def coordinate_in(pixels: SampledPixels, camera_to_frame: RigidTransform, axis: int) -> Any:
    """One coordinate (0 x, 1 y, 2 z) of the pixels' points in the frame camera_to_frame maps into."""
    rotation = camera_to_frame.rotation
    plane = _turned_rays(pixels.camera, rotation)[axis]
    turned = pixels.ops.constant(('turned', pixels.camera.cache_key(), rotation.tobytes(), axis), plane)
    column = pixels.picked(turned) * pixels.depth
    column += float(camera_to_frame.translation[axis])
    return column


def distances(pixels: SampledPixels) -> Any:
    """Distance of each pixel's point from the camera centre: depth times its ray's length."""
    key = pixels.camera.cache_key()
    lengths = pixels.ops.constant(('lengths', key), _cached(_LENGTHS, key, lambda: _ray_lengths(pixels.camera)))
    return pixels.picked(lengths) * pixels.depth


def _ray_lengths(camera: CameraModel) -> np.ndarray:
    ray_x, ray_y = camera.pixel_ray_planes()
    lengths: np.ndarray = np.sqrt(ray_x * ray_x + ray_y * ray_y + 1.0).astype(np.float32).ravel()
    return lengths


def _turned_rays(camera: CameraModel, rotation: np.ndarray) -> tuple[np.ndarray, ...]:
    """The rays (x/z, y/z, 1) of every pixel turned by rotation: three flat float32 planes."""
    def compute() -> tuple[np.ndarray, ...]:
        ray_x, ray_y = camera.pixel_ray_planes()
        return tuple((row[0] * ray_x + row[1] * ray_y + row[2]).astype(np.float32).ravel() for row in rotation)
    turned: tuple[np.ndarray, ...] = _cached(_TURNED, (camera.cache_key(), rotation.tobytes()), compute)
    return turned


_SAMPLED: dict[tuple[Any, ...], CameraModel] = {}
_LENGTHS: dict[tuple[Any, ...], np.ndarray] = {}
_TURNED: dict[tuple[Any, ...], tuple[np.ndarray, ...]] = {}
_OTHER: dict[tuple[Any, ...], Any] = {}


def remembered(key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """A per-camera value computed once (a few of them kept), e.g. the scan's field of view."""
    return _cached(_OTHER, key, compute)


def _cached(cache: dict[Any, Any], key: Any, compute: Callable[[], Any]) -> Any:
    value = cache.get(key)
    if value is None:
        value = compute()
        _remember(cache, key, value)
    return value


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
