"""The pixels both navigation outputs trust, and their points in a target frame.

Both outputs work on every `stride`-th pixel (a (rows, columns) pair): a costmap cell or a scan beam
spans several pixels, so sampling them all costs time and adds nothing. A pixel is used when its depth is finite and positive,
its confidence reaches `min_confidence`, and it is not a flying pixel: the model's map is resized back
to the image with antialiasing, which blends a foreground edge with its background into depths that
belong to neither, so a pixel whose depth jumps to a neighbour by more than `edge_threshold`
(relative to the nearer one) is dropped when it is the farther of the two (flying_pixels).

A pixel's point in a frame is its depth times its ray (CameraModel.pixel_rays: distortion honoured)
turned into that frame, plus the frame's offset: the rays are turned once per camera and rotation,
so a frame costs one multiply-add per coordinate and point.
"""
from dataclasses import dataclass

import numpy as np

from depthmaster_ros.config.settings import Config, NavigationSettings
from depthmaster_ros.geometry.array_checks import IMAGE, float_array
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.geometry.transforms import RigidTransform

Columns = tuple[np.ndarray, np.ndarray, np.ndarray]
_CACHE_SIZE = 16


def default_settings(settings: NavigationSettings | None) -> NavigationSettings:
    """The node's defaults from the parameter table when settings is None."""
    return Config.from_params({}).navigation if settings is None else settings


@dataclass(frozen=True)
class SampledPixels:
    """The usable pixels of depth[::rows, ::columns]: flat indices into that grid and their depths."""
    camera: CameraModel          # the camera of the sampled grid (sampled_camera)
    index: np.ndarray            # int64 flat indices
    depth: np.ndarray            # float32 metres, z in the optical frame

    def subset(self, keep: np.ndarray) -> 'SampledPixels':
        return SampledPixels(self.camera, self.index[keep], self.depth[keep])


def usable_pixels(depth_m: np.ndarray, camera: CameraModel, stride: tuple[int, int], min_confidence: float,
                  edge_threshold: float, confidence: np.ndarray | None = None) -> SampledPixels:
    """The sampled pixels (every stride = (rows, columns)-th) that are valid, confident enough and not flying."""
    depth = float_array(depth_m, 'depth_m', IMAGE, np.float32)
    sampled = depth[::stride[0], ::stride[1]]
    with np.errstate(invalid='ignore'):
        usable = (sampled > 0) & (sampled < np.inf)
        if confidence is not None and min_confidence > 0:
            trust = float_array(confidence, 'confidence', IMAGE)
            if trust.shape != depth.shape:
                raise ValueError(f'confidence: expected shape {depth.shape}, got {trust.shape}')
            usable &= trust[::stride[0], ::stride[1]] >= min_confidence
        if edge_threshold > 0:
            usable &= ~flying_pixels(depth, edge_threshold, stride)
    index = np.flatnonzero(usable)
    return SampledPixels(sampled_camera(camera, depth.shape, stride), index, sampled.ravel()[index])


def flying_pixels(depth: np.ndarray, threshold: float, stride: tuple[int, int] = (1, 1)) -> np.ndarray:
    """Mask of depth[::rows, ::columns] (stride): True where a sampled pixel is farther than one of its four
    direct neighbours (in the full image) by more than threshold x that neighbour's depth.

    Only the farther side of a jump is dropped: along a blended edge every in-between pixel is farther
    than its neighbour on the foreground side, so all of them go, while the foreground's own border,
    and with it thin legs and poles a pixel wide, stays. Direct neighbours, whatever the stride: a
    surface seen at a grazing angle changes its depth by a small share per pixel, a blended edge by
    much more, and the test costs a few operations of the sampled size. Invalid neighbours are ignored.
    """
    row_step, col_step = stride
    centre = depth[::row_step, ::col_step]
    nearest = np.full(centre.shape, np.nan, np.float32)
    with np.errstate(invalid='ignore'):
        for dv, du in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            rows = _with_neighbour(depth.shape[0], centre.shape[0], row_step, dv)
            cols = _with_neighbour(depth.shape[1], centre.shape[1], col_step, du)
            target = nearest[rows[0]:rows[1], cols[0]:cols[1]]
            neighbour = depth[rows[0] * row_step + dv:(rows[1] - 1) * row_step + dv + 1:row_step,
                              cols[0] * col_step + du:(cols[1] - 1) * col_step + du + 1:col_step]
            np.fmin(target, neighbour, out=target)
        return centre > nearest * np.float32(1.0 + threshold)


def _with_neighbour(size, samples, stride, step):
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
    planes = _turned_rays(pixels.camera, camera_to_frame.rotation)
    translation = camera_to_frame.translation.astype(np.float32)
    columns = []
    for plane, offset in zip(planes, translation):
        column = plane[pixels.index]
        column *= pixels.depth
        column += offset
        columns.append(column)
    return columns[0], columns[1], columns[2]


def distances(pixels: SampledPixels) -> np.ndarray:
    """Distance of each pixel's point from the camera centre: depth times its ray's length."""
    lengths = _cached(_LENGTHS, pixels.camera.cache_key(), lambda: _ray_lengths(pixels.camera))
    return lengths[pixels.index] * pixels.depth


def _ray_lengths(camera):
    ray_x, ray_y = camera.pixel_ray_planes()
    return np.sqrt(ray_x * ray_x + ray_y * ray_y + 1.0).astype(np.float32).ravel()


def _turned_rays(camera, rotation):
    """The rays (x/z, y/z, 1) of every pixel turned by rotation: three flat float32 planes."""
    def compute():
        ray_x, ray_y = camera.pixel_ray_planes()
        return tuple((row[0] * ray_x + row[1] * ray_y + row[2]).astype(np.float32).ravel() for row in rotation)
    return _cached(_TURNED, (camera.cache_key(), rotation.tobytes()), compute)


_SAMPLED: dict[tuple, CameraModel] = {}
_LENGTHS: dict[tuple, np.ndarray] = {}
_TURNED: dict[tuple, tuple[np.ndarray, ...]] = {}


def _cached(cache, key, compute):
    value = cache.get(key)
    if value is None:
        value = compute()
        _remember(cache, key, value)
    return value


def _remember(cache, key, value):
    if len(cache) >= _CACHE_SIZE:
        cache.pop(next(iter(cache)))
    cache[key] = value
