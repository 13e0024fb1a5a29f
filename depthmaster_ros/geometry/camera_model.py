"""Camera intrinsics from sensor_msgs/CameraInfo: projection, pixel rays and resizing.

Projection uses K and D of the raw (distorted) image, because depth is predicted on the raw image;
P and R are carried so that CameraInfo can be re-published unchanged (except for resizing).

Pixel convention: integer pixel (u, v) covers [u - 0.5, u + 0.5); its centre is at u. Resizing an
image by s along an axis therefore maps a coordinate c to (c + 0.5) * s - 0.5, which is what
`CameraModel.scaled` applies to the principal point (and to every coordinate through K and P).
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.geometry.array_checks import POINTS, float_array

from .errors import GeometryError

# distortion model -> accepted coefficient counts (OpenCV order)
DISTORTION_MODELS = {
    'plumb_bob': (4, 5),
    'rational_polynomial': (8,),
    'equidistant': (4,),
}
NO_DISTORTION = ''

# (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10); OpenCV is imported only for distortion.
_UNDISTORT_CRITERIA = (3, 40, 1e-10)


def _matrix(values: ArrayLike, shape: tuple[int, int], field: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GeometryError(f'{field}: not numeric ({error})') from None
    if array.size != shape[0] * shape[1]:
        raise GeometryError(f'{field}: expected {shape[0] * shape[1]} values, got {array.size}')
    return array.reshape(shape)


def _frozen(values: ArrayLike) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CameraModel:
    """Intrinsics of one image size; arrays are read-only float64."""

    width: int
    height: int
    K: np.ndarray
    D: np.ndarray
    distortion_model: str
    P: np.ndarray
    R: np.ndarray

    def __post_init__(self) -> None:
        try:
            width, height = int(self.width), int(self.height)
        except (TypeError, ValueError):
            raise GeometryError(f'width/height: not integers ({self.width!r}, {self.height!r})') from None
        if width <= 0 or height <= 0:
            raise GeometryError(f'width/height: image size must be positive, got {width}x{height}')
        K = _matrix(self.K, (3, 3), 'k')
        if not np.all(np.isfinite(K)) or not np.any(K):
            raise GeometryError(f'k: camera matrix must be finite and non-zero, got {K.ravel().tolist()}')
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise GeometryError(f'k: focal lengths must be positive, got fx={K[0, 0]} fy={K[1, 1]}')
        try:
            D = np.asarray(self.D if self.D is not None else (), dtype=np.float64).ravel()
        except (TypeError, ValueError) as error:
            raise GeometryError(f'd: not numeric ({error})') from None
        if not np.all(np.isfinite(D)):
            raise GeometryError(f'd: distortion coefficients must be finite, got {D.tolist()}')
        model = str(self.distortion_model or '')
        if not np.any(D):
            model, D = NO_DISTORTION, np.zeros(0)
        elif model not in DISTORTION_MODELS:
            raise GeometryError(f'distortion_model: unknown model {model!r} with non-zero coefficients '
                                f'(known: {", ".join(DISTORTION_MODELS)})')
        elif D.size not in DISTORTION_MODELS[model]:
            raise GeometryError(f'd: {model} expects {DISTORTION_MODELS[model]} coefficients, got {D.size}')
        P = _matrix(self.P, (3, 4), 'p') if self.P is not None else None
        if P is None or not np.any(P):
            P = np.hstack([K, np.zeros((3, 1))])
        if not np.all(np.isfinite(P)):
            raise GeometryError('p: projection matrix must be finite')
        R = _matrix(self.R, (3, 3), 'r') if self.R is not None else None
        if R is None or not np.any(R):
            R = np.eye(3)
        if not np.all(np.isfinite(R)):
            raise GeometryError('r: rectification matrix must be finite')
        for name, value in (('width', width), ('height', height), ('K', _frozen(K)), ('D', _frozen(D)),
                            ('distortion_model', model), ('P', _frozen(P)), ('R', _frozen(R))):
            object.__setattr__(self, name, value)

    @classmethod
    def pinhole(cls, width: int, height: int, fx: float, fy: float | None = None, cx: float | None = None,
                cy: float | None = None, D: ArrayLike = (), distortion_model: str = '') -> 'CameraModel':
        """A camera from focal length and principal point (centre of the image by default)."""
        fy = fx if fy is None else fy
        cx = (width - 1) / 2.0 if cx is None else cx
        cy = (height - 1) / 2.0 if cy is None else cy
        K = [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]
        # __post_init__ turns array-likes into arrays and derives P and R when given None
        return cls(width, height, K, D, distortion_model, None, None)  # type: ignore[arg-type]

    @classmethod
    def from_camera_info(cls, msg: Any) -> 'CameraModel':
        """Build from anything with CameraInfo fields (rclpy, rosbags, or a plain object)."""
        for field in ('width', 'height', 'k', 'd', 'distortion_model', 'p', 'r'):
            if not hasattr(msg, field):
                raise GeometryError(f'{field}: CameraInfo field missing')
        return cls(msg.width, msg.height, msg.k, msg.d, msg.distortion_model, msg.p, msg.r)

    @property
    def has_distortion(self) -> bool:
        return self.distortion_model != NO_DISTORTION

    # Focal lengths and principal point, pixels (from K).
    fx = property(lambda self: float(self.K[0, 0]))
    fy = property(lambda self: float(self.K[1, 1]))
    cx = property(lambda self: float(self.K[0, 2]))
    cy = property(lambda self: float(self.K[1, 2]))

    def cache_key(self) -> tuple[int, int, bytes, bytes, str]:
        """Hashable identity of the model, for caches keyed by camera."""
        return (self.width, self.height, self.K.tobytes(), self.D.tobytes(), self.distortion_model)

    def scaled(self, width: int, height: int, aspect_tolerance: float = 0.01) -> 'CameraModel':
        """The same camera for the image resized to width x height (pixel-centre convention)."""
        width, height = int(width), int(height)
        if width <= 0 or height <= 0:
            raise GeometryError(f'width/height: target size must be positive, got {width}x{height}')
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        if abs(sx / sy - 1.0) > aspect_tolerance:
            raise GeometryError(f'width/height: {width}x{height} changes the aspect ratio of the '
                                f'{self.width}x{self.height} camera by more than {aspect_tolerance:.1%}')
        resize = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
        return CameraModel(width, height, resize @ self.K, self.D, self.distortion_model,
                           resize @ self.P, self.R)

    def to_camera_info_fields(self) -> dict[str, Any]:
        """Plain CameraInfo fields, ready for an rclpy or rosbags message."""
        return {
            'width': self.width,
            'height': self.height,
            'distortion_model': self.distortion_model or 'plumb_bob',
            'd': self.D.tolist() if self.has_distortion else [0.0] * 5,
            'k': self.K.ravel().tolist(),
            'r': self.R.ravel().tolist(),
            'p': self.P.ravel().tolist(),
            'binning_x': 0,
            'binning_y': 0,
            'roi': {'x_offset': 0, 'y_offset': 0, 'height': 0, 'width': 0, 'do_rectify': False},
        }

    def project(self, points_cam: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Project Nx3 optical-frame points to pixels.

        Returns (uv Nx2 float64, valid N bool). valid: finite, in front of the camera (z > 0), inside
        the field of view that the image's undistorted border spans (this stops polynomial
        distortion from folding far off-axis points back into the image), and inside the image
        (-0.5 <= u < width - 0.5, same for v). uv is NaN where not valid.
        """
        points = _points(points_cam, 'points_cam')
        index, u, v = self.project_columns(*points.T.astype(np.float64, order='C'))
        uv = np.full((len(points), 2), np.nan)
        uv[index, 0] = u
        uv[index, 1] = v
        valid = np.zeros(len(points), bool)
        valid[index] = True
        return uv, valid

    def project_columns(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """project() for points given as contiguous float64 columns: (index, u, v) of the valid ones.

        Same rules as project(); one array per coordinate keeps every step on contiguous memory,
        which matters for the tens of thousands of points of a LiDAR scan.
        """
        with np.errstate(invalid='ignore', divide='ignore'):
            index = np.flatnonzero(np.isfinite(x) & np.isfinite(y) & (z > 0) & (z < np.inf))
            depth = z[index]
            x, y = x[index] / depth, y[index] / depth
        if self.has_distortion:
            low, high = _normalised_bounds(self)
            inside_fov = (x >= low[0]) & (x <= high[0]) & (y >= low[1]) & (y <= high[1])
            index, x, y = index[inside_fov], x[inside_fov], y[inside_fov]
            pixels = self._distort_to_pixels(np.stack([x, y], axis=1))
            u, v = pixels[:, 0], pixels[:, 1]
        else:
            K = self.K
            u = K[0, 0] * x + K[0, 1] * y + K[0, 2]
            v = K[1, 1] * y + K[1, 2]
        with np.errstate(invalid='ignore'):
            inside = (u >= -0.5) & (u < self.width - 0.5) & (v >= -0.5) & (v < self.height - 0.5)
        return index[inside], u[inside], v[inside]

    def _distort_to_pixels(self, xy: np.ndarray) -> np.ndarray:
        if len(xy) == 0:
            return np.zeros((0, 2))
        import cv2
        object_points = np.hstack([xy, np.ones((len(xy), 1))]).reshape(-1, 1, 3)
        zero = np.zeros(3)
        if self.distortion_model == 'equidistant':
            uv, _ = cv2.fisheye.projectPoints(object_points, zero, zero, self.K, self.D)
        else:
            uv, _ = cv2.projectPoints(object_points, zero, zero, self.K, self.D)
        return uv.reshape(-1, 2)

    def undistort_pixels(self, uv: ArrayLike) -> np.ndarray:
        """Normalised undistorted coordinates (x/z, y/z) of Nx2 pixel coordinates."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        if not self.has_distortion:
            y = (uv[:, 1] - self.K[1, 2]) / self.K[1, 1]
            x = (uv[:, 0] - self.K[0, 2] - self.K[0, 1] * y) / self.K[0, 0]
            return np.stack([x, y], axis=1)
        import cv2
        source = uv.reshape(-1, 1, 2)
        if self.distortion_model == 'equidistant':
            xy = cv2.fisheye.undistortPoints(source, self.K, self.D, criteria=_UNDISTORT_CRITERIA)
        else:
            xy = cv2.undistortPoints(source, self.K, self.D, criteria=_UNDISTORT_CRITERIA)
        return xy.reshape(-1, 2)

    def normalised_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high): box of normalised coordinates (x/z, y/z) holding every pixel's ray, with a margin.

        Cached per camera. project() rejects points outside it (the fold-back guard); callers use it
        to drop points that cannot land in the image before projecting them.
        """
        return _normalised_bounds(self)

    def pixel_rays(self, stride: int = 1) -> np.ndarray:
        """Normalised rays (x/z, y/z) of the pixel centres, shape (ceil(h/stride), ceil(w/stride), 2).

        Cached per camera and stride; the array is read-only. Multiplying by depth gives x and y.
        """
        stride = int(stride)
        if stride < 1:
            raise GeometryError(f'stride: must be >= 1, got {stride}')
        return _pixel_rays(self.cache_key(), stride, self)

    def pixel_ray_planes(self, stride: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """pixel_rays as two contiguous read-only planes (x/z, y/z), cached: gathers from them are fast."""
        rays = self.pixel_rays(stride)
        planes: tuple[np.ndarray, np.ndarray] = _cached(('ray_planes', self.cache_key(), int(stride)),
                                                        lambda: _read_only_planes(rays))
        return planes


def _points(points: ArrayLike, field: str) -> np.ndarray:
    return float_array(points, field, POINTS, np.float64)


_CACHE: dict[tuple[object, ...], Any] = {}   # arrays, or tuples of arrays
_CACHE_SIZE = 64


def _cached(key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
    """Small FIFO cache keyed by camera identity (models are immutable, so values never go stale)."""
    value = _CACHE.get(key)
    if value is None:
        value = compute()
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = value
    return value


def _pixel_rays(key: tuple[object, ...], stride: int, camera: CameraModel) -> np.ndarray:
    def compute() -> np.ndarray:
        us = np.arange(0, camera.width, stride, dtype=np.float64)
        vs = np.arange(0, camera.height, stride, dtype=np.float64)
        grid_u, grid_v = np.meshgrid(us, vs)
        xy = camera.undistort_pixels(np.stack([grid_u.ravel(), grid_v.ravel()], axis=1))
        rays = xy.reshape(len(vs), len(us), 2)
        rays.setflags(write=False)
        return rays
    result: np.ndarray = _cached(('rays', key, stride), compute)
    return result


def _read_only_planes(rays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    planes = (np.ascontiguousarray(rays[..., 0]), np.ascontiguousarray(rays[..., 1]))
    for plane in planes:
        plane.setflags(write=False)
    return planes


def _normalised_bounds(camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Box of normalised coordinates that the image border maps to (for the fold-back guard)."""
    def compute() -> tuple[np.ndarray, np.ndarray]:
        w, h = camera.width, camera.height
        edge_u = np.linspace(-0.5, w - 0.5, 64)
        edge_v = np.linspace(-0.5, h - 0.5, 64)
        border = np.concatenate([
            np.stack([edge_u, np.full(64, -0.5)], 1), np.stack([edge_u, np.full(64, h - 0.5)], 1),
            np.stack([np.full(64, -0.5), edge_v], 1), np.stack([np.full(64, w - 0.5), edge_v], 1)])
        xy = camera.undistort_pixels(border)
        span = xy.max(axis=0) - xy.min(axis=0)
        return xy.min(axis=0) - 0.05 * span, xy.max(axis=0) + 0.05 * span
    result: tuple[np.ndarray, np.ndarray] = _cached(('bounds', camera.cache_key()), compute)
    return result
