"""Alignment confidence: how far a robot may trust the published metres at each pixel (0..1).

The metres are the model's relative map put through a fit to sparse samples (LiDAR, the ground
plane). Where samples are dense and agree with the published depth, the fit is pinned down there;
far from any sample, or where the samples near a pixel disagree with the depth it publishes, it is
not. Per pixel p, with Gaussian weights w_i(p) = exp(-|p - x_i|^2 / 2 R^2) over the samples x_i:

    confidence(p) = sum_i w_i a_i / (sum_i w_i + PRIOR_SAMPLES) * exp(-dist(p)^2 / 2 R^2)

- a_i = 1 / (1 + (e_i / AGREEMENT_TOLERANCE)^2), e_i the sample's relative error |d_i - z_i| / z_i
  between the published depth d_i and the sample's metres z_i: 1 for a sample that agrees, 0.5 at a
  5 % disagreement, ~0 for an outlier (a spurious return or a real object the model missed: either
  way the published depth there is in doubt);
- the sum over the weights against PRIOR_SAMPLES is the sample density: one agreeing sample right
  at the pixel gives 0.5, many give 1;
- dist(p) is the distance to the nearest sample: a pixel beyond a few R of every sample has
  confidence ~0 whatever the samples elsewhere say.

R (the reach) is REACH_SHARE of the image diagonal (32 px at 640x480). So the value reads as the
share of the support a pixel would have among dense, agreeing samples at its own position. It
judges the alignment only; a model's own per-pixel confidence (Marigold's ensemble spread) is a
separate factor that the pipeline multiplies in. Computed on a CELL-pixel grid (the Gaussian sums and
the distance term, as a Gaussian-weighted max-filter, are separable) and upsampled bilinearly: a
fraction of a millisecond at 640x480.
"""
from functools import lru_cache

import numpy as np

from .errors import AlignmentError

try:   # OpenCV's resize is the fast upsampling; a machine without OpenCV uses the numpy twin below
    import cv2
except ImportError:
    cv2 = None  # type: ignore[assignment]

from .apply import apply_alignment
from .fit import checked_pixels

CELL = 8                        # pixels per grid cell
REACH_SHARE = 0.04              # R, as a share of the image diagonal
AGREEMENT_TOLERANCE = 0.05      # relative depth error at which a sample counts half
PRIOR_SAMPLES = 1.0             # weight of "no support" in the density term, in samples


def sample_agreement(published_m: np.ndarray, sample_m: np.ndarray) -> np.ndarray:
    """a_i in 0..1 for each sample: 1 where the published depth matches the sample, 0 where it is absent."""
    published_m = np.asarray(published_m, np.float64)
    sample_m = np.asarray(sample_m, np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        error = np.abs(published_m - sample_m) / sample_m
    agreement = 1.0 / (1.0 + (error / AGREEMENT_TOLERANCE) ** 2)
    return np.where(np.isfinite(agreement), agreement, 0.0)


@lru_cache(maxsize=16)
def _gaussian_matrix(count: int, reach_cells: float) -> np.ndarray:
    """K[i, j] = exp(-(i - j)^2 / 2 R^2) over one axis of the grid (nothing beyond its edges); made once
    per image size (read-only)."""
    offsets = np.arange(count, dtype=np.float64)
    matrix = np.exp(-0.5 * ((offsets[:, None] - offsets[None, :]) / reach_cells) ** 2)
    matrix.flags.writeable = False
    return matrix


def _weights(radius: int, reach_cells: float) -> np.ndarray:
    """exp(-d^2 / 2 R^2) for d = 0..radius: the max-filter's weight at each distance."""
    return np.array([float(np.exp(-0.5 * (d / reach_cells) ** 2)) for d in range(radius + 1)])


def _filter_radius(reach_cells: float, length: int) -> int:
    return min(int(np.ceil(4.0 * reach_cells)), length - 1)


def _nearness_along_rows(occupied: np.ndarray, reach_cells: float) -> np.ndarray:
    """The max-filter along each row of a 0/1 grid: the weight at the distance to the row's nearest
    occupied cell (0 beyond the radius), found with two running maxima instead of a shift per offset."""
    length = occupied.shape[1]
    radius = _filter_radius(reach_cells, length)
    position = np.arange(length)
    far = 2 * length + radius
    before = np.maximum.accumulate(np.where(occupied, position, -far), axis=1)
    after = np.minimum.accumulate(np.where(occupied, position, far)[:, ::-1], axis=1)[:, ::-1]
    distance = np.minimum(position - before, after - position)
    return np.append(_weights(radius, reach_cells), 0.0)[np.minimum(distance, radius + 1)]


def _max_filter_along_columns(grid: np.ndarray, reach_cells: float) -> np.ndarray:
    """max over |k| <= 4 R of exp(-k^2 / 2 R^2) * grid shifted by k rows (zero beyond the grid).

    The weights are symmetric, so the rows k above and k below share one multiplication."""
    length = grid.shape[0]
    radius = _filter_radius(reach_cells, length)
    weights = _weights(radius, reach_cells)
    padded = np.pad(grid, ((radius, radius), (0, 0)))
    result: np.ndarray = grid * weights[0]
    pair = np.empty_like(grid)
    for k in range(1, radius + 1):
        np.maximum(padded[radius - k:radius - k + length], padded[radius + k:radius + k + length], out=pair)
        pair *= weights[k]
        np.maximum(result, pair, out=result)
    return result


def upsample_cells(cells: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a CELL-pixel grid to height x width (pixel centres, edges clamped)."""
    if cv2 is not None:
        size = (cells.shape[1] * CELL, cells.shape[0] * CELL)
        return np.ascontiguousarray(cv2.resize(cells, size, interpolation=cv2.INTER_LINEAR)[:height, :width])
    return _upsample_numpy(cells, height, width)


def _upsample_numpy(cells: np.ndarray, height: int, width: int) -> np.ndarray:
    """The numpy twin of cv2.resize(INTER_LINEAR) by CELL, for machines without OpenCV."""
    def taps(count: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        source = np.clip((np.arange(count) + 0.5) / CELL - 0.5, 0.0, size - 1)
        low = np.floor(source).astype(np.int64)
        return low, np.minimum(low + 1, size - 1), (source - low).astype(np.float32)
    r0, r1, fr = taps(height, cells.shape[0])
    c0, c1, fc = taps(width, cells.shape[1])
    rows = cells[r0] * (1 - fr)[:, None] + cells[r1] * fr[:, None]
    result: np.ndarray = (rows[:, c0] * (1 - fc) + rows[:, c1] * fc).astype(np.float32)
    return result


def confidence_map(shape: tuple[int, int], index: np.ndarray, agreement: np.ndarray) -> np.ndarray:
    """HxW float32 confidence (see the module docstring) from the samples' flat indices and a_i."""
    height, width = int(shape[0]), int(shape[1])
    index = np.asarray(index, np.int64).ravel()
    agreement = np.asarray(agreement, np.float64).ravel()
    if index.shape != agreement.shape:
        raise AlignmentError(f'agreement: {agreement.size} values but index has {index.size}')
    if not len(index):
        return np.zeros((height, width), np.float32)
    rows, cols = (height + CELL - 1) // CELL, (width + CELL - 1) // CELL
    pixel_rows, pixel_cols = np.divmod(index, width)
    cell = pixel_rows // CELL * cols + pixel_cols // CELL
    counts = np.bincount(cell, minlength=rows * cols).reshape(rows, cols).astype(np.float64)
    agreeing = np.bincount(cell, weights=agreement, minlength=rows * cols).reshape(rows, cols)
    reach_cells = REACH_SHARE * float(np.hypot(height, width)) / CELL
    along_rows, along_cols = _gaussian_matrix(rows, reach_cells), _gaussian_matrix(cols, reach_cells)
    # sum_i w_i (w_i = 1 at the sample's own cell) and sum_i w_i a_i, as one stack of two grids
    total, agreed = along_rows @ np.stack([counts, agreeing]) @ along_cols
    # exp(-dist^2 / 2 R^2) is the largest weight of any sample: a separable Gaussian-weighted max-filter
    nearness = _max_filter_along_columns(_nearness_along_rows(counts > 0, reach_cells), reach_cells)
    cells = np.clip(agreed / (total + PRIOR_SAMPLES) * nearness, 0.0, 1.0).astype(np.float32)
    return upsample_cells(cells, height, width)


def alignment_confidence(relative: np.ndarray, space: str, sparse_depth: np.ndarray,
                         scale: float | np.ndarray, shift: float | np.ndarray,
                         min_depth: float = 0.1, max_depth: float = 100.0,
                         sample_pixels: np.ndarray | None = None) -> np.ndarray:
    """Confidence of the metres `apply_alignment(relative, space, scale, shift, ...)` publishes, given the
    sparse samples (HxW metres, NaN where empty); scale and shift may be HxW maps (local alignment).
    sample_pixels: ascending flat indices that include every sample (as the LiDAR projection knows
    them), so the image is not scanned for them; the map is the same.

    Only the sample pixels are mapped to metres (on the host copy of the relative map, so the host and
    the device path give the same map). A sample whose pixel publishes no depth counts as
    disagreeing; with no sample the map is all 0.
    """
    relative = np.asarray(relative)
    sparse = np.asarray(sparse_depth)
    if sparse.shape != relative.shape:
        raise AlignmentError(f'sparse_depth: shape {sparse.shape} differs from relative shape {relative.shape}')
    flat = sparse.ravel()
    with np.errstate(invalid='ignore'):
        if sample_pixels is None:
            index = np.flatnonzero(flat > 0)
        else:
            index = checked_pixels(sample_pixels, flat.size)
            index = index[flat[index] > 0]
    index = index[np.isfinite(flat[index])]
    if not len(index):
        return np.zeros(relative.shape, np.float32)
    at_samples = [np.asarray(v).ravel()[index] if np.ndim(v) == 2 else v for v in (scale, shift)]
    published = apply_alignment(relative.ravel()[index][None], space, at_samples[0], at_samples[1],
                                min_depth, max_depth)[0]
    return confidence_map(relative.shape, index, sample_agreement(published, flat[index]))
