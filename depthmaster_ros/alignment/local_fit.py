"""Local alignment: a spatially varying scale and shift on top of the global fit, training-free.

A real model's error is not affine: after the global fit, the residuals at the samples vary slowly
across the image (a tilted or bent depth field) and jump at objects. The correction is fitted in
relative terms, rho = target / fitted - 1 (a depth error is a factor, whatever the depth), and per
neighbourhood it is affine in u = 1 / fitted: rho(u) = m + g (u - u_mean). Because the slope term is
a function of the prediction's value, the correction changes exactly where the prediction has an edge,
so a foreground object's correction does not smear onto the background beside it. The metres stay an
affine map of the prediction per pixel: fitted (1 + rho(u)) = K fitted + g with K = 1 + m - g u_mean,
so per cell the scale s K and shift t K + g are upsampled bilinearly: one multiply-add per pixel.

Coarse to fine over CELL-pixel cells (normalised convolution at the Gaussian scales LEVEL_SIGMAS_CELLS):
every level is a ridge regression of the samples near a cell whose prior is the next coarser level's
correction, with PRIOR_SAMPLES samples' weight; the coarsest level's prior is no correction. So a cell
among many samples gets its own correction, one among few borrows the trend of a wider area, and where
no level sees a sample (beyond about four coarsest sigmas) the maps are exactly the global scale and
shift. The coarse levels fit the factor m only: a slope fitted over a wide area would be extrapolated to
depths its samples never saw (a floor's trend applied to a facade); the slope, the edge term, is fitted
only at the levels no wider than SLOPE_SIGMA_CELLS.

Only the global fit's inliers take part; a second pass drops the samples that disagree with their own
neighbourhood's correction (Tukey weights of the residual to the first pass), so a stray return does not
bend the correction around it.
"""
import numpy as np

from .cell_grid import gaussian_blur, upsample
from .robust_start import MAD_TO_SIGMA, TUKEY_C

CELL = 16                                          # pixels per grid cell
LEVEL_SIGMAS_CELLS = (8.0, 4.0, 2.0, 1.0)          # Gaussian neighbourhoods, coarse to fine
SLOPE_SIGMA_CELLS = 2.0                            # levels this fine or finer also fit the slope (edge) term
PRIOR_SAMPLES = 3.0                                # weight of the coarser level's correction, in samples
SLOPE_PRIOR_SPREAD = 0.1                           # the slope's ridge as if the prior had this share of u's spread
ROBUST_PASSES = 2
MIN_SAMPLES = 20


def local_correction_maps(relative: np.ndarray, index: np.ndarray, pred: np.ndarray, target: np.ndarray,
                          scale: float, shift: float, inliers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel (scale, shift) float32 maps the shape of relative; None when too few inliers to correct.

    index: the samples' flat pixel indices, pred their relative values, target their metres in the
    fit's space; scale and shift: the global fit.
    """
    fitted = scale * pred + shift
    use = inliers & (fitted > 0) & np.isfinite(target)
    if int(use.sum()) < MIN_SAMPLES:
        return None
    height, width = relative.shape
    grid = ((height + CELL - 1) // CELL, (width + CELL - 1) // CELL)
    index, fitted = index[use], fitted[use]
    rho = target[use] / fitted - 1.0
    u_ref = float(np.median(1.0 / fitted))
    u = 1.0 / (fitted * u_ref) - 1.0                # u / median u - 1: unitless, centred
    cell = (index // width // CELL) * grid[1] + (index % width) // CELL
    spread = max(float(np.subtract(*np.percentile(u, [95, 5]))), 1e-6)
    slope_prior = PRIOR_SAMPLES * (SLOPE_PRIOR_SPREAD * spread) ** 2
    m, g, u_mean = _coarse_to_fine(_cell_sums(cell, grid, u, rho, np.ones_like(u)), slope_prior)
    for _ in range(ROBUST_PASSES - 1):
        residual = rho - (m.ravel()[cell] + g.ravel()[cell] * (u - u_mean.ravel()[cell]))
        m, g, u_mean = _coarse_to_fine(_cell_sums(cell, grid, u, rho, _tukey(residual)), slope_prior)
    # fitted (1 + m + g (u - u_mean)) with u = 1 / (fitted u_ref) - 1  =  K fitted + g / u_ref
    factor = 1.0 + m - g * (u_mean + 1.0)
    cell_scale = (scale * factor).astype(np.float32)
    cell_shift = (shift * factor + g / u_ref).astype(np.float32)
    return upsample(cell_scale, CELL, height, width), upsample(cell_shift, CELL, height, width)


def _cell_sums(cell: np.ndarray, grid: tuple[int, int], u: np.ndarray, rho: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """Per cell the weighted count, sum u, sum rho, sum u^2 and sum u rho: rows x cols x 5 float32."""
    size = grid[0] * grid[1]
    wu = weight * u
    return np.stack([np.bincount(cell, weights=w, minlength=size).reshape(grid)
                     for w in (weight, wu, weight * rho, wu * u, wu * rho)], axis=-1).astype(np.float32)


def _coarse_to_fine(sums: np.ndarray, slope_prior: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell (m, g, u_mean) of the finest level, each level's ridge prior the coarser one's line."""
    m = g = u_mean = np.zeros(sums.shape[:2])
    for sigma in LEVEL_SIGMAS_CELLS:
        area = 2.0 * np.pi * sigma * sigma        # a normalised Gaussian's sums -> sums over the neighbourhood
        blurred = gaussian_blur(sums, sigma)
        n, su, sr, suu, sur = np.moveaxis(area * np.asarray(blurred, np.float64), -1, 0)
        have = n > 1e-6
        centre = np.where(have, su / np.where(have, n, 1.0), u_mean)
        m_prior = m + g * (centre - u_mean)         # the coarser line, at this level's centre
        m = (sr + PRIOR_SAMPLES * m_prior) / (n + PRIOR_SAMPLES)
        if sigma <= SLOPE_SIGMA_CELLS:
            var = np.maximum(suu - su * centre, 0.0)
            g = (sur - sr * centre + slope_prior * g) / (var + slope_prior)
        else:
            g = np.zeros_like(m)
        u_mean = centre
    return m, g, u_mean


def _tukey(residual: np.ndarray) -> np.ndarray:
    """Tukey biweights of the residuals at TUKEY_C robust sigmas."""
    sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(residual - np.median(residual)))), 1e-9)
    z = np.square(residual / (TUKEY_C * sigma))
    return np.square(np.maximum(1.0 - z, 0.0))
