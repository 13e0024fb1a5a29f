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
import itertools

import numpy as np

from .cell_grid import gaussian_blur, upsample
from .robust_start import MAD_TO_SIGMA, TUKEY_C

CELL = 16                                          # pixels per grid cell
LEVEL_SIGMAS_CELLS = (8.0, 4.0, 2.0, 1.0)          # Gaussian neighbourhoods, coarse to fine
# (weight of the coarser level's correction in samples, the widest level that also fits the slope (edge)
# term): tight for dense samples, loose for sparse ones; the held-out samples choose per frame
REGULARISATIONS = ((3.0, 2.0), (1.0, 4.0))
SLOPE_PRIOR_SPREAD = 0.1                           # the slope's ridge as if the prior had this share of u's spread
ROBUST_PASSES = 2
MIN_SAMPLES = 20
HOLDOUT_FOLDS = 5
HOLDOUT_CAP_SIGMAS = 6.0                           # a held-out error counts at most this many noise sigmas
HOLDOUT_GAIN = 1.0                                 # the correction must predict held-out samples this much better


def local_correction_maps(relative: np.ndarray, index: np.ndarray, pred: np.ndarray, target: np.ndarray,
                          scale: float, shift: float, inliers: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-pixel (scale, shift) float32 maps the shape of relative; None when too few samples to correct, or
    when no correction predicts held-out samples better than the global line.

    index: the samples' flat pixel indices, pred their relative values, target their metres in the
    fit's space; scale and shift: the global fit; inliers: the samples that agree with it.
    """
    fitted = scale * pred + shift
    finite = (fitted > 0) & np.isfinite(target)
    rho = np.where(finite, target / np.where(finite, fitted, 1.0) - 1.0, 0.0)
    height, width = relative.shape
    grid = ((height + CELL - 1) // CELL, (width + CELL - 1) // CELL)
    cell = (index // width // CELL) * grid[1] + (index % width) // CELL
    u_ref = float(np.median(1.0 / fitted[finite])) if finite.any() else 1.0
    u = 1.0 / (np.where(finite, fitted, 1.0) * u_ref) - 1.0      # u / median u - 1: unitless, centred
    inlying = finite & inliers
    noise = max(MAD_TO_SIGMA * float(np.median(np.abs(rho[inlying]))) if inlying.any() else 0.0, 1e-9)
    cap = (HOLDOUT_CAP_SIGMAS * noise) ** 2
    best, best_loss = None, float(np.minimum(rho[finite] ** 2, cap).sum())     # the global line's
    for use, (prior, slope_sigma) in itertools.product((inlying, finite), REGULARISATIONS):
        if int(use.sum()) < MIN_SAMPLES or (use is finite and not (finite & ~inlying).any()):
            continue
        field = _LocalField(cell, grid, u, rho, use, prior, slope_sigma)
        loss = field.held_out_loss(finite, cap)
        if loss < HOLDOUT_GAIN * best_loss:
            best, best_loss = field, loss
    if best is None:
        return None
    m, g, u_mean = best.fit()
    # fitted (1 + m + g (u - u_mean)) with u = 1 / (fitted u_ref) - 1  =  K fitted + g / u_ref
    factor = 1.0 + m - g * (u_mean + 1.0)
    cell_scale = (scale * factor).astype(np.float32)
    cell_shift = (shift * factor + g / u_ref).astype(np.float32)
    return upsample(cell_scale, CELL, height, width), upsample(cell_shift, CELL, height, width)


class _LocalField:
    """The coarse-to-fine correction fitted to one set of the samples (`use`), with robust weights, and how
    well it predicts samples it was not fitted to."""

    def __init__(self, cell: np.ndarray, grid: tuple[int, int], u: np.ndarray, rho: np.ndarray, use: np.ndarray,
                 prior: float, slope_sigma: float):
        self.cell, self.grid, self.u, self.rho = cell, grid, u, rho
        self.prior, self.slope_sigma = prior, slope_sigma
        spread = max(float(np.subtract(*np.percentile(u[use], [95, 5]))), 1e-6)
        self.slope_prior = prior * (SLOPE_PRIOR_SPREAD * spread) ** 2
        self.weight = use.astype(np.float64)
        for _ in range(ROBUST_PASSES - 1):
            self.weight = use * _tukey(self.residual(*self.fit(), use), use)

    def fit(self, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per cell (m, g, u_mean) from the samples at these weights (default: the robust ones)."""
        weight = self.weight if weight is None else weight
        return _coarse_to_fine(_cell_sums(self.cell, self.grid, self.u, self.rho, weight), self.prior,
                               self.slope_sigma, self.slope_prior)

    def residual(self, m: np.ndarray, g: np.ndarray, u_mean: np.ndarray, at: np.ndarray) -> np.ndarray:
        """rho less the correction, at every sample (`at`: where it matters; elsewhere 0)."""
        c = self.cell
        return np.where(at, self.rho - (m.ravel()[c] + g.ravel()[c] * (self.u - u_mean.ravel()[c])), 0.0)

    def held_out_loss(self, judged: np.ndarray, cap: float) -> float:
        """Sum over HOLDOUT_FOLDS interleaved folds of the judged samples of the squared error at each fold
        of the field fitted without it, an error counting at most `cap` (a gross error is as wrong for the
        global line)."""
        fold = np.cumsum(judged) % HOLDOUT_FOLDS
        loss = 0.0
        for k in range(HOLDOUT_FOLDS):
            held = judged & (fold == k)
            loss += float(np.minimum(self.residual(*self.fit(self.weight * ~held), held)[held] ** 2, cap).sum())
        return loss


def _cell_sums(cell: np.ndarray, grid: tuple[int, int], u: np.ndarray, rho: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """Per cell the weighted count, sum u, sum rho, sum u^2 and sum u rho: rows x cols x 5 float32."""
    size = grid[0] * grid[1]
    wu = weight * u
    return np.stack([np.bincount(cell, weights=w, minlength=size).reshape(grid)
                     for w in (weight, wu, weight * rho, wu * u, wu * rho)], axis=-1).astype(np.float32)


def _coarse_to_fine(sums: np.ndarray, prior: float, slope_sigma: float,
                    slope_prior: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell (m, g, u_mean) of the finest level, each level's ridge prior the coarser one's line."""
    m = g = u_mean = np.zeros(sums.shape[:2])
    for sigma in LEVEL_SIGMAS_CELLS:
        area = 2.0 * np.pi * sigma * sigma        # a normalised Gaussian's sums -> sums over the neighbourhood
        blurred = gaussian_blur(sums, sigma)
        n, su, sr, suu, sur = np.moveaxis(area * np.asarray(blurred, np.float64), -1, 0)
        have = n > 1e-6
        centre = np.where(have, su / np.where(have, n, 1.0), u_mean)
        m_prior = m + g * (centre - u_mean)         # the coarser line, at this level's centre
        m = (sr + prior * m_prior) / (n + prior)
        if sigma <= slope_sigma:
            var = np.maximum(suu - su * centre, 0.0)
            g = (sur - sr * centre + slope_prior * g) / (var + slope_prior)
        else:
            g = np.zeros_like(m)
        u_mean = centre
    return m, g, u_mean


def _tukey(residual: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Tukey biweights of the residuals at TUKEY_C robust sigmas (the sigma from the samples `at`)."""
    judged = residual[at]
    sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(judged - np.median(judged)))), 1e-9)
    z = np.square(residual / (TUKEY_C * sigma))
    return np.square(np.maximum(1.0 - z, 0.0))
