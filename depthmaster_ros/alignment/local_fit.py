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
correction, with a few samples' weight; the coarsest level's prior is no correction. So a cell among many
samples gets its own correction, one among few borrows the trend of a wider area, and where no level sees
a sample (beyond about four coarsest sigmas) the maps are exactly the global scale and shift. The coarse
levels fit the factor m only: a slope fitted over a wide area would be extrapolated to depths its samples
never saw (a floor's trend applied to a facade). How wide the slope is fitted and how strongly a level
leans on the coarser one depends on the sample density (DENSE, SPARSE): fifty points must carry an
object's correction and its edge from a few samples each, a LiDAR's thousands need not.

Which samples, and whether at all, is decided by the samples themselves, left out one at a time (no
truth): the correction from the global fit's inliers, or from every sample (a wall or an object whose
model error exceeds the global outlier cut is rejected by the line, yet its few samples agree with each
other; it must do ADMIT_GAIN better, as it trusts what the line rejected), or none (the global line),
whichever predicts the left-out samples best. Leaving a sample out is exact and costs one fit: a
level's line at a cell depends only on that cell's neighbourhood sums and the coarser line there, so the
sample's own share is subtracted at its cell and the levels repeated for it.
Errors beyond HOLDOUT_CAP_SIGMAS noise sigmas count as that much: a gross outlier is as wrong for every
choice. A second pass inside each fit drops the samples that disagree with their own neighbourhood's
correction (Tukey weights of the residual to the first pass), so a stray return does not bend it.
"""
import numpy as np

from .cell_grid import gaussian_blur, kernel_centre, upsample
from .robust_start import MAD_TO_SIGMA, TUKEY_C

CELL = 16                                          # pixels per grid cell
LEVEL_SIGMAS_CELLS = (8.0, 4.0, 2.0, 1.0)          # Gaussian neighbourhoods, coarse to fine
# (weight of the coarser level's correction in samples, the widest level that also fits the slope (edge)
# term): for samples denser than SPARSE_PER_CELL per cell (a LiDAR, the floor), and for sparser ones, which
# must carry an object's correction and its edge from a few samples each
DENSE = (3.0, 2.0)
SPARSE = (1.0, 4.0)
SPARSE_PER_CELL = 0.5
SLOPE_PRIOR_SPREAD = 0.1                           # the slope's ridge as if the prior had this share of u's spread
ROBUST_PASSES = 2
MIN_SAMPLES = 20
LEFT_OUT_MIN_WEIGHT = 1e-3                         # a left-out neighbourhood with less weight has no samples
HOLDOUT_CAP_SIGMAS = 6.0                           # a held-out error counts at most this many noise sigmas
HOLDOUT_GAIN = 1.0                                 # the correction must predict left-out samples this much better
ADMIT_GAIN = 0.8                                   # and the one that trusts samples the line rejected, this much


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
    prior, slope_sigma = SPARSE if finite.sum() < SPARSE_PER_CELL * grid[0] * grid[1] else DENSE
    for use in (inlying, finite):
        if int(use.sum()) < MIN_SAMPLES or (use is finite and not (finite & ~inlying).any()):
            continue
        field = _LocalField(cell, grid, u, rho, use, prior, slope_sigma)
        loss = field.held_out_loss(finite, cap)
        if loss < (HOLDOUT_GAIN if use is inlying else ADMIT_GAIN) * best_loss:
            best, best_loss = field, loss
    if best is None:
        return None
    m, g, u_mean = best.maps
    # fitted (1 + m + g (u - u_mean)) with u = 1 / (fitted u_ref) - 1  =  K fitted + g / u_ref
    factor = 1.0 + m - g * (u_mean + 1.0)
    cell_scale = (scale * factor).astype(np.float32)
    cell_shift = (shift * factor + g / u_ref).astype(np.float32)
    return upsample(cell_scale, CELL, height, width), upsample(cell_shift, CELL, height, width)


class _LocalField:
    """The coarse-to-fine correction fitted to one set of the samples (`use`), with robust weights, and how
    well it predicts each sample when that sample is left out."""

    def __init__(self, cell: np.ndarray, grid: tuple[int, int], u: np.ndarray, rho: np.ndarray, use: np.ndarray,
                 prior: float, slope_sigma: float):
        self.rho = rho
        spread = max(float(np.subtract(*np.percentile(u[use], [95, 5]))), 1e-6)
        levels = _Levels(prior, slope_sigma, prior * (SLOPE_PRIOR_SPREAD * spread) ** 2)
        weight = use.astype(np.float64)
        for _ in range(ROBUST_PASSES - 1):
            (m, g, u_mean), _ = levels.fit(_cell_sums(cell, grid, u, rho, weight))
            weight = use * _tukey(rho - (m.ravel()[cell] + g.ravel()[cell] * (u - u_mean.ravel()[cell])), use)
        self.maps, left_out = levels.fit(_cell_sums(cell, grid, u, rho, weight), (cell, u, rho, weight))
        self.left_out = np.zeros_like(rho) if left_out is None else left_out

    def held_out_loss(self, judged: np.ndarray, cap: float) -> float:
        """Sum over the judged samples of the squared error of the field fitted without each (exact for the
        robust weights found with it), an error counting at most `cap` (a gross error is as wrong for the
        global line)."""
        return float(np.minimum((self.rho - self.left_out)[judged] ** 2, cap).sum())


class _Levels:
    """Coarse to fine over LEVEL_SIGMAS_CELLS: at each level a ridge fit of the correction's factor m (and, at
    levels no wider than slope_sigma cells, its slope g in u) whose prior is the coarser level's line with
    `prior` samples' weight."""

    def __init__(self, prior: float, slope_sigma: float, slope_prior: float):
        self.prior, self.slope_sigma, self.slope_prior = prior, slope_sigma, slope_prior

    def fit(self, sums: np.ndarray, samples: tuple[np.ndarray, ...] | None = None
            ) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]:
        """Per cell (m, g, u_mean) of the finest level; with samples (cell, u, rho, weight), also each
        sample's correction when it is left out.

        A level's line at a cell depends only on the neighbourhood sums at that cell and the coarser line
        there, so leaving a sample out is subtracting its own share of each level's sums at its cell (its
        weight times the kernel's centre) and repeating the levels for that cell alone.
        """
        zeros = np.zeros(sums.shape[:2])
        grid_state = (zeros, zeros, zeros)
        left = np.zeros(0 if samples is None else len(samples[0]))
        sample_state = (left, left, left)
        for sigma in LEVEL_SIGMAS_CELLS:
            area = 2.0 * np.pi * sigma * sigma    # a normalised Gaussian's sums -> sums over the neighbourhood
            blurred = area * np.asarray(gaussian_blur(sums, sigma), np.float64)
            grid_state = self._level(np.moveaxis(blurred, -1, 0), grid_state, sigma, 1e-6)
            if samples is not None:
                cell, u, rho, weight = samples
                own = area * kernel_centre(sigma) ** 2 * weight
                at = blurred.reshape(-1, 5)[cell].T - own * np.stack([np.ones_like(u), u, rho, u * u, u * rho])
                sample_state = self._level(at, sample_state, sigma, LEFT_OUT_MIN_WEIGHT)
        if samples is None:
            return grid_state, None
        m, g, u_mean = sample_state
        return grid_state, m + g * (samples[1] - u_mean)

    def _level(self, sums: np.ndarray, state: tuple[np.ndarray, np.ndarray, np.ndarray], sigma: float,
               min_weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(m, g, u_mean) of one level from its neighbourhood sums (n, su, sr, suu, sur) and the coarser state."""
        n, su, sr, suu, sur = sums
        m, g, u_mean = state
        have = n > min_weight
        centre = np.where(have, su / np.where(have, n, 1.0), u_mean)
        m_prior = m + g * (centre - u_mean)       # the coarser line, at this level's centre
        m = (sr + self.prior * m_prior) / (n + self.prior)
        if sigma <= self.slope_sigma:
            var = np.maximum(suu - su * centre, 0.0)
            g = (sur - sr * centre + self.slope_prior * g) / (var + self.slope_prior)
        else:
            g = np.zeros_like(m)
        return m, g, centre


def _cell_sums(cell: np.ndarray, grid: tuple[int, int], u: np.ndarray, rho: np.ndarray,
               weight: np.ndarray) -> np.ndarray:
    """Per cell the weighted count, sum u, sum rho, sum u^2 and sum u rho: rows x cols x 5 float32."""
    size = grid[0] * grid[1]
    wu = weight * u
    return np.stack([np.bincount(cell, weights=w, minlength=size).reshape(grid)
                     for w in (weight, wu, weight * rho, wu * u, wu * rho)], axis=-1).astype(np.float32)


def _tukey(residual: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Tukey biweights of the residuals at TUKEY_C robust sigmas (the sigma from the samples `at`)."""
    judged = residual[at]
    sigma = max(MAD_TO_SIGMA * float(np.median(np.abs(judged - np.median(judged)))), 1e-9)
    z = np.square(residual / (TUKEY_C * sigma))
    return np.square(np.maximum(1.0 - z, 0.0))
