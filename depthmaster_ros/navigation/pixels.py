"""The pixels both navigation outputs trust, back-projected into a target frame.

Both outputs work on every `stride`-th pixel: a costmap cell or a scan beam spans several pixels, so
sampling them all costs time and adds nothing. A pixel is used when its depth is finite and positive,
its confidence reaches `min_confidence`, and it is not a flying pixel: the model's map is resized back
to the image with antialiasing, which blends a foreground edge with its background into depths that
belong to neither, so a pixel whose depth jumps to a neighbour by more than `edge_threshold`
(relative to the nearer one) is dropped, on both sides of the jump.
"""
import numpy as np

from depthmaster_ros.config.settings import Config, NavigationSettings
from depthmaster_ros.geometry.array_checks import IMAGE, float_array
from depthmaster_ros.geometry.backprojection import depth_to_points
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.geometry.transforms import RigidTransform

def default_settings(settings: NavigationSettings | None) -> NavigationSettings:
    """The node's defaults from the parameter table when settings is None."""
    return Config.from_params({}).navigation if settings is None else settings


def usable_depth(depth_m: np.ndarray, stride: int, min_confidence: float, edge_threshold: float,
                 confidence: np.ndarray | None = None) -> np.ndarray:
    """depth_m[::stride, ::stride] (a copy) with NaN where a pixel is invalid, unconfident or flying."""
    depth = float_array(depth_m, 'depth_m', IMAGE, np.float32)
    sampled = np.array(depth[::stride, ::stride], np.float32)
    with np.errstate(invalid='ignore'):
        invalid = ~(sampled > 0) | ~np.isfinite(sampled)
        if confidence is not None and min_confidence > 0:
            trust = float_array(confidence, 'confidence', IMAGE)
            if trust.shape != depth.shape:
                raise ValueError(f'confidence: expected shape {depth.shape}, got {trust.shape}')
            invalid |= ~(trust[::stride, ::stride] >= min_confidence)
        if edge_threshold > 0:
            invalid |= flying_pixels(sampled, edge_threshold)
    sampled[invalid] = np.nan
    return sampled


def flying_pixels(depth: np.ndarray, threshold: float) -> np.ndarray:
    """True where a pixel's depth differs from its right or lower neighbour's by more than threshold x
    the nearer of the two; both pixels of such a pair are marked (compared in log depth: one log, then
    differences)."""
    with np.errstate(invalid='ignore', divide='ignore'):
        log_depth = np.log(depth)
    limit = np.float32(np.log1p(threshold))
    flying = np.zeros(depth.shape, bool)
    for here, there, mark_here, mark_there in (
            (log_depth[:, :-1], log_depth[:, 1:], flying[:, :-1], flying[:, 1:]),
            (log_depth[:-1], log_depth[1:], flying[:-1], flying[1:])):
        jump = np.abs(here - there) > limit
        mark_here |= jump
        mark_there |= jump
    return flying


def sampled_camera(camera: CameraModel, depth_shape: tuple[int, int], stride: int) -> CameraModel:
    """The camera of the pixels depth[::stride, ::stride]: their centres, exactly (not a resize)."""
    camera = camera.scaled(depth_shape[1], depth_shape[0])
    if stride == 1:
        return camera
    key = (camera.cache_key(), stride)
    cached = _SAMPLED.get(key)
    if cached is None:
        shrink = np.diag([1.0 / stride, 1.0 / stride, 1.0])
        cached = CameraModel(-(-camera.width // stride), -(-camera.height // stride), shrink @ camera.K, camera.D,
                             camera.distortion_model, shrink @ camera.P, camera.R)
        if len(_SAMPLED) >= 16:
            _SAMPLED.pop(next(iter(_SAMPLED)))
        _SAMPLED[key] = cached
    return cached


_SAMPLED: dict[tuple, CameraModel] = {}


Columns = tuple[np.ndarray, np.ndarray, np.ndarray]


def points_in_frame(sampled_depth: np.ndarray, camera: CameraModel, camera_to_frame: RigidTransform) -> tuple[Columns, Columns]:
    """(x, y, z) columns of the valid sampled pixels in the camera optical frame, and in the target frame.

    camera is sampled_camera(...) of the sampled depth. Contiguous float32 columns: a 3x3 transform is
    nine multiply-adds on them, far cheaper than a matrix product on (N, 3) rows.
    """
    points = depth_to_points(sampled_depth, camera, organized=False)
    camera_columns = (np.ascontiguousarray(points[:, 0]), np.ascontiguousarray(points[:, 1]),
                      np.ascontiguousarray(points[:, 2]))
    return camera_columns, transform_columns(camera_columns, camera_to_frame)


def transform_columns(columns: Columns, transform: RigidTransform) -> Columns:
    """The points given as x, y, z columns, moved by transform (float32 columns)."""
    rotation = transform.rotation.astype(np.float32)
    translation = transform.translation.astype(np.float32)
    x, y, z = columns
    out = []
    for row in range(3):
        value = rotation[row, 0] * x
        value += rotation[row, 1] * y
        value += rotation[row, 2] * z
        value += translation[row]
        out.append(value)
    return out[0], out[1], out[2]
