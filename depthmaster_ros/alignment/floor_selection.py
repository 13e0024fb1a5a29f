"""Which of the floor plane's pixels show floor: asked of the relative map's own geometry.

With the camera's height, pitch and roll known, every downward ray meets the floor at a known depth;
in the prediction's space that is a known value q per pixel. Any horizontal surface at height H
(a table top, a seat, a box lid) is the floor plane moved up: its space value is c(H) * q, with c = 1
on the floor, so wherever the prediction p shows a horizontal surface, p = s * c * q + t locally,
one unknown scale s and shift t (the prediction is affine in its space). Two things follow and need
neither s nor t:

- the normal agrees with gravity where the gradient of p is parallel to the gradient of q, with a
  positive ratio. Vertical faces fail it: a cabinet's or a sofa's front changes little or the wrong
  way from row to row, a side face changes along the row, furniture legs are too thin to have a
  gradient of their own. Those pixels are never floor candidates.
- the floor is the farthest horizontal surface: nothing along a ray that meets the floor lies
  beyond it. So the floor's line s * q + t has every plane pixel on its near side (up to the model's
  error), where a line through the table tops has the floor behind it.

The floor line is found by a seeded sample-consensus over pairs of candidates: each line scores the
candidates within FLOOR_BAND of it, less PENALTY per plane pixel farther than it by more than
BEHIND_BANDS bands. The pixels of the best line (refitted by least squares on its inliers) are the
floor; the robust fit then scales the plane's depths there, so the scale comes from this plane and
the camera's height. All of it runs on every STRIDE-th pixel; what depends on the camera and its pose
alone (the plane's pixels, their floor values and gradients) is made once per pose and kept
(`_floor_geometry`): with a fixed mount, each frame only looks at its prediction.

What breaks it: a floor that is not flat or a pose that is wrong (the known q is then wrong); a
view in which no floor is visible but a large horizontal surface is (a bed or a table filling the
view: nothing shows it is not the floor); a prediction that bends the floor by more than the band.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from depthmaster_ros.geometry import CameraModel, RigidTransform

from .fit import thin_samples
from .ground_plane import ground_plane_depth
from .spaces import to_space
from .uncertainty import SPACE_EXPONENT

STRIDE = 4
BLUR = 3                  # box blur (in strided pixels) before the gradients are taken
STEP = 2                  # strided pixels between the two ends of a central difference
MAX_CROSS = 0.35          # |gradient of p across that of q| / along it: the normal's tilt allowed (~20 degrees)
FLOOR_BAND = 0.04         # relative depth within which a pixel lies on a line
BEHIND_BANDS = 3.0        # farther than the line by this many bands: the line cannot be the floor
PENALTY = 2.0             # score lost per plane pixel behind a line
HYPOTHESES = 64
SCORING_PIXELS = 500
MIN_CANDIDATES = 20
MAX_SAMPLES = 1000        # floor pixels handed to the fit, evenly thinned (its cost grows with them, not its accuracy)


@dataclass
class FloorSelection:
    depth: np.ndarray           # HxW: the floor plane's depth where the prediction shows floor, NaN elsewhere
    floor_share: float          # kept pixels / plane pixels, on the strided grid (NaN without any plane pixel)
    pixels: np.ndarray          # ascending flat indices of the kept pixels in the HxW image
    fit_start: tuple[float, float] | None = None    # the floor line as the fit's (scale, shift): floor = s pred + t


@dataclass(frozen=True)
class _FloorGeometry:
    """The floor plane on the strided grid from row `top` down, for one camera, pose, image size and range."""
    top: int                    # first strided row looked at (a few above the floor's first, for the gradients)
    plane_index: np.ndarray     # flat indices in the strided grid from `top` of the plane pixels (ray meets the
                                # floor within range)
    pixels: np.ndarray          # the same pixels as flat indices of the HxW image
    depth: np.ndarray           # the plane's depth there
    q: np.ndarray               # its value in the space (float64)
    along_rows: np.ndarray      # gradient of the floor's values / its squared norm, at the plane pixels: the
    along_cols: np.ndarray      # prediction's gradient dotted with these is its slope against the floor's


class _PoseKey:
    """A camera and its pose compared by value (the objects compare by identity), for the geometry cache."""

    def __init__(self, camera: CameraModel, camera_to_base: RigidTransform, width: int, height: int, max_depth: float,
                 space: str):
        self.camera, self.camera_to_base = camera, camera_to_base
        self.size_and_range = (width, height, max_depth, space)
        self.value = (camera.cache_key(), camera_to_base.rotation.tobytes(), camera_to_base.translation.tobytes(),
                      self.size_and_range)
        self._hash = hash(self.value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _PoseKey) and self.value == other.value


def _gradients(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(d/drow, d/dcol) of the blurred values: central differences over STEP strided pixels, NaN at the border."""
    import cv2  # imported here: only the ground-plane mode needs OpenCV (the device check runs without it)
    blurred = cv2.blur(values, (BLUR, BLUR), borderType=cv2.BORDER_REPLICATE)
    rows, cols = np.full_like(blurred, np.nan), np.full_like(blurred, np.nan)
    rows[STEP:-STEP] = blurred[2 * STEP:] - blurred[:-2 * STEP]
    cols[:, STEP:-STEP] = blurred[:, 2 * STEP:] - blurred[:, :-2 * STEP]
    return rows, cols


@lru_cache(maxsize=16)      # one per camera of a ring, with room for a pose that moves now and then
def _floor_geometry(key: _PoseKey) -> _FloorGeometry | None:
    """The pose's part of the selection (module notes), or None when no ray meets the floor within range."""
    width, height, max_depth, space = key.size_and_range
    floor = ground_plane_depth(key.camera, key.camera_to_base, width, height, max_depth=np.inf, stride=STRIDE)
    rows_with_floor = np.flatnonzero(np.any(floor <= max_depth, axis=1))
    if not len(rows_with_floor):
        return None
    # only the rows from just above the floor's first one down: the gradients need a few rows above it
    top = max(int(rows_with_floor[0]) - BLUR // 2 - STEP - 1, 0)
    floor = floor[top:]
    plane_index = np.flatnonzero(floor <= max_depth)
    # the blur needs finite values: above the horizon the floor's value at the horizon
    target = to_space(floor, space).astype(np.float32)
    target[~np.isfinite(target)] = np.nanmax(target) if space == 'depth' else 0.0
    target_rows, target_cols = _gradients(target)
    with np.errstate(invalid='ignore', divide='ignore'):
        norm2 = target_rows * target_rows + target_cols * target_cols
        along_rows, along_cols = (target_rows / norm2).ravel()[plane_index], (target_cols / norm2).ravel()[plane_index]
    rows, cols = np.divmod(plane_index, floor.shape[1])
    geometry = _FloorGeometry(top, plane_index, (rows + top) * STRIDE * width + cols * STRIDE,
                              floor.ravel()[plane_index], target.ravel()[plane_index].astype(np.float64),
                              along_rows, along_cols)
    for array in (geometry.plane_index, geometry.pixels, geometry.depth, geometry.q, along_rows, along_cols):
        array.setflags(write=False)
    return geometry


def _horizontal(pred: np.ndarray, index: np.ndarray, along_rows: np.ndarray,
                along_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At the strided pixels `index` (with the floor's gradient over its squared norm there): whether the
    prediction's gradient is parallel to the floor's with a positive ratio (module notes), and that ratio (the
    prediction's local slope against the floor's values)."""
    pred_rows, pred_cols = _gradients(pred)
    rows, cols = pred_rows.ravel()[index], pred_cols.ravel()[index]
    along = rows * along_rows + cols * along_cols
    across = cols * along_rows - rows * along_cols
    with np.errstate(invalid='ignore'):
        return (along > 0) & (np.abs(across) < MAX_CROSS * along), along


def _floor_line(q: np.ndarray, p: np.ndarray, local_slope: np.ndarray, plane_q: np.ndarray, plane_p: np.ndarray,
                band_scale: float, sign: float, rng: np.random.Generator) -> tuple[float, float] | None:
    """(s, t) of the best floor line (module notes), or None when no line has a positive score.

    Half the lines go through two candidates, half through one with its local slope: when the floor is
    a small share of the candidates, pairs of floor pixels are rare and single ones are not. The lines are
    scored in float32 (a band is a few per cent wide) and the best one refined in float64.
    """
    half = HYPOTHESES // 2
    pick = rng.integers(0, len(q), (HYPOTHESES, 2))
    first, second = pick[:, 0], pick[:half, 1]
    dq = q[first[:half]] - q[second]
    with np.errstate(invalid='ignore', divide='ignore'):
        slopes = np.concatenate([(p[first[:half]] - p[second]) / dq, local_slope[first[half:]]])
    wide = np.concatenate([np.abs(dq) > 0.05 * (q.max() - q.min()), np.ones(HYPOTHESES - half, bool)])
    good = np.isfinite(slopes) & (slopes > 0) & wide
    if not good.any():
        return None
    slopes, first = slopes[good], first[good]
    shifts = p[first] - slopes * q[first]
    score_q, score_p = _subsample(q, p, rng)
    behind_q, behind_p = _subsample(plane_q, plane_p, rng)
    scored = len(score_q)
    # each line's value above its shift (on_line) and each pixel's distance from the line, at every scoring pixel
    on_line = np.multiply.outer(slopes.astype(np.float32), np.concatenate([score_q, behind_q]).astype(np.float32))
    distance = np.subtract.outer(-shifts.astype(np.float32), -np.concatenate([score_p, behind_p]).astype(np.float32))
    distance -= on_line
    on_line *= np.float32(band_scale)
    inside = np.count_nonzero(np.abs(distance[:, :scored]) < on_line[:, :scored], axis=1)
    if sign < 0:
        distance[:, scored:] *= -1.0
    behind = np.count_nonzero(distance[:, scored:] < -BEHIND_BANDS * on_line[:, scored:], axis=1)
    score = inside / scored - PENALTY * behind / len(behind_q)
    best = int(np.argmax(score))
    if not score[best] > 0:
        return None
    return _refined(q, p, float(slopes[best]), float(shifts[best]), band_scale)


def _on_line(q: np.ndarray, p: np.ndarray, slope: float, shift: float, band_scale: float) -> np.ndarray:
    """Pixels within the band of the line p = slope * q + shift (a relative depth band, see FLOOR_BAND)."""
    return np.abs(p - slope * q - shift) < band_scale * slope * q


def _refined(q: np.ndarray, p: np.ndarray, slope: float, shift: float, band_scale: float) -> tuple[float, float]:
    """The line refitted by least squares on its inliers, twice (kept where a refit would not be usable)."""
    for _ in range(2):
        inliers = _on_line(q, p, slope, shift, band_scale)
        if inliers.sum() < MIN_CANDIDATES:
            break
        refined = _least_squares_line(q[inliers], p[inliers])
        if not refined[0] > 0:
            break
        slope, shift = refined
    return slope, shift


def _least_squares_line(q: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of p on q, from the centred sums (a 2x2 solve without the general solver's cost)."""
    q_mean, p_mean = q.mean(), p.mean()
    centred = q - q_mean
    denominator = float(centred @ centred)
    if not denominator > 0:
        return float('nan'), float('nan')
    slope = float(centred @ (p - p_mean)) / denominator
    return slope, float(p_mean - slope * q_mean)


def _subsample(q: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """At most SCORING_PIXELS of the pixels, evenly spread over the image from a seeded start."""
    if len(q) <= SCORING_PIXELS:
        return q, p
    step = len(q) / SCORING_PIXELS
    pick = ((np.arange(SCORING_PIXELS) + rng.random()) * step).astype(np.int64)
    return q[pick], p[pick]


def select_floor(relative: np.ndarray, space: str, camera: CameraModel, camera_to_base: RigidTransform,
                 max_depth: float, seed: int = 0) -> FloorSelection:
    """The plane's pixels that the relative map shows as floor (see the module notes)."""
    relative = np.ascontiguousarray(relative, np.float32)
    height, width = relative.shape
    empty = np.full((height, width), np.nan, np.float32)
    geometry = _floor_geometry(_PoseKey(camera, camera_to_base, width, height, float(max_depth), str(space)))
    if geometry is None:
        return FloorSelection(empty, float('nan'), np.zeros(0, np.int64))
    plane_p = relative.ravel()[geometry.pixels].astype(np.float64)
    on_plane = np.flatnonzero(np.isfinite(plane_p))         # into the geometry's plane pixels
    if not len(on_plane):
        return FloorSelection(empty, float('nan'), np.zeros(0, np.int64))
    # the blur needs finite values: the prediction's median on the plane where it has none
    small_pred = relative[geometry.top * STRIDE::STRIDE, ::STRIDE]
    finite = np.isfinite(small_pred)
    pred = np.ascontiguousarray(small_pred) if finite.all() else np.where(
        finite, small_pred, np.float32(np.median(plane_p[on_plane])))
    index, plane_q, along_rows, along_cols = geometry.plane_index, geometry.q, geometry.along_rows, geometry.along_cols
    if len(on_plane) < len(plane_p):        # the prediction is not finite on the whole plane (it usually is)
        plane_p, index, plane_q, along_rows, along_cols = (
            values[on_plane] for values in (plane_p, index, plane_q, along_rows, along_cols))
    horizontal, local_slope = _horizontal(pred, index, along_rows, along_cols)
    if np.count_nonzero(horizontal) < MIN_CANDIDATES:
        return FloorSelection(empty, 0.0, np.zeros(0, np.int64))
    band_scale = FLOOR_BAND * SPACE_EXPONENT[space]
    sign = -1.0 if space == 'depth' else 1.0           # which way "nearer than the floor" goes in the space
    line = _floor_line(plane_q[horizontal], plane_p[horizontal], local_slope[horizontal].astype(np.float64),
                       plane_q, plane_p, band_scale, sign, np.random.default_rng(seed))
    if line is None:
        return FloorSelection(empty, 0.0, np.zeros(0, np.int64))
    # the floor between the furniture is too narrow for a gradient of its own: every plane pixel on the line
    keep = _on_line(plane_q, plane_p, line[0], line[1], band_scale)
    share = float(np.count_nonzero(keep)) / len(on_plane)
    kept = on_plane[thin_samples(np.flatnonzero(keep), MAX_SAMPLES, seed)]
    pixels = geometry.pixels[kept]
    depth = empty
    depth.ravel()[pixels] = geometry.depth[kept]
    slope, shift = line             # pred = slope * floor + shift, so floor = pred / slope - shift / slope
    return FloorSelection(depth, share, pixels, (1.0 / slope, -shift / slope))
