"""Training augmentation that keeps the metric evidence true: a horizontal flip and a small colour jitter.

Flip. `CameraModel`'s pixel (u, v) has its centre at u (integer pixels cover [u - 0.5, u + 0.5)), so the
mirror of column u of a W-wide image is column W - 1 - u. Mirroring the image is mirroring the scene about
the camera's y-z plane (x -> -x in the optical frame), so the intrinsics of the flipped image are
cx' = W - 1 - cx (fx, fy, cy unchanged, skew negated), P likewise (its Tx negated), R conjugated by the
mirror, and of the distortion only the tangential p2 changes sign (plumb_bob and rational_polynomial;
equidistant is radial only). A point (x, y, z) seen at column u by the original camera is, mirrored to
(-x, y, z), seen at W - 1 - u by the flipped one: back-projecting the flipped depth with the flipped
intrinsics gives the mirrored points.

Colour jitter changes brightness, contrast and saturation by small random factors; depth is untouched.
"""
from dataclasses import dataclass, replace

import numpy as np

from depthmaster_ros.geometry import CameraModel

from .errors import FinetuneError
from .samples import TrainingSample

# Index of the tangential coefficient p2 in the OpenCV order of each model that has one.
_P2_INDEX = {'plumb_bob': 3, 'rational_polynomial': 3}


def flip_camera(camera: CameraModel) -> CameraModel:
    """The intrinsics of the horizontally flipped image (see the module notes)."""
    mirror_pixels = np.array([[-1.0, 0.0, camera.width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    mirror_x = np.diag([-1.0, 1.0, 1.0])
    K = mirror_pixels @ camera.K @ mirror_x
    P = mirror_pixels @ camera.P @ np.diag([-1.0, 1.0, 1.0, 1.0])
    R = mirror_x @ camera.R @ mirror_x
    D = np.array(camera.D, dtype=np.float64)
    if camera.distortion_model in _P2_INDEX:
        D[_P2_INDEX[camera.distortion_model]] *= -1.0
    return CameraModel(camera.width, camera.height, K, D, camera.distortion_model, P, R)


def flip_sample(sample: TrainingSample) -> TrainingSample:
    """The sample mirrored left to right: image, depths and intrinsics together."""
    dense = None if sample.dense_depth is None else np.ascontiguousarray(sample.dense_depth[:, ::-1])
    return replace(sample, image=np.ascontiguousarray(sample.image[:, ::-1]),
                   sparse_depth=np.ascontiguousarray(sample.sparse_depth[:, ::-1]), dense_depth=dense,
                   camera=flip_camera(sample.camera))


@dataclass(frozen=True)
class Augmentation:
    """Flip with probability `flip`; brightness, contrast and saturation factors drawn from 1 +- their value."""
    flip: float = 0.5
    brightness: float = 0.1
    contrast: float = 0.1
    saturation: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.flip <= 1.0:
            raise FinetuneError(f'flip: a probability in [0, 1], got {self.flip}')
        for name in ('brightness', 'contrast', 'saturation'):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise FinetuneError(f'{name}: in [0, 1), got {getattr(self, name)}')

    def apply(self, sample: TrainingSample, rng: np.random.Generator) -> tuple[TrainingSample, bool]:
        """(augmented sample, whether it was flipped); the draws come from `rng` in a fixed order."""
        flipped = bool(rng.random() < self.flip)
        if flipped:
            sample = flip_sample(sample)
        factors = 1.0 + rng.uniform(-1.0, 1.0, 3) * (self.brightness, self.contrast, self.saturation)
        return replace(sample, image=colour_jitter(sample.image, *factors)), flipped


def colour_jitter(image: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Scale brightness, then contrast about the mean grey, then saturation about each pixel's grey (uint8 out)."""
    rgb = image.astype(np.float32) * np.float32(brightness)
    grey_weights = np.array([0.299, 0.587, 0.114], np.float32)
    mean = float((rgb @ grey_weights).mean())
    rgb = mean + (rgb - mean) * np.float32(contrast)
    grey = (rgb @ grey_weights)[..., None]
    rgb = grey + (rgb - grey) * np.float32(saturation)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
