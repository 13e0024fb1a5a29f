"""Gaussian blur and bilinear upsampling of the local alignment's small cell grids.

OpenCV does both fastest; where it is not installed (a bare GPU machine, an embedded image) the same
operations run as small matrix products in numpy, equal to OpenCV's to float32 rounding, so the local
method never depends on an optional package.
"""
import numpy as np

try:
    import cv2
except ImportError:
    cv2 = None  # type: ignore[assignment]


def gaussian_blur(grid: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised Gaussian blur over the first two axes (zeros beyond the border), float32 out."""
    grid = np.asarray(grid, np.float32)
    if cv2 is not None:
        return np.asarray(cv2.GaussianBlur(grid, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT), np.float32)
    rows, cols = _gaussian_matrix(grid.shape[0], sigma), _gaussian_matrix(grid.shape[1], sigma)
    return np.einsum('ij,jk...,lk->il...', rows, grid, cols, optimize=True).astype(np.float32)


def upsample(grid: np.ndarray, factor: int, height: int, width: int) -> np.ndarray:
    """Bilinear upsampling of a rows x cols grid by an integer factor (pixel centres aligned, edges
    replicated, as cv2.resize's INTER_LINEAR), cropped to height x width; float32."""
    grid = np.asarray(grid, np.float32)
    if cv2 is not None:
        size = (grid.shape[1] * factor, grid.shape[0] * factor)
        return cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
    return (_linear_matrix(grid.shape[0], factor, height) @ grid @ _linear_matrix(grid.shape[1], factor, width).T)


def kernel_centre(sigma: float) -> float:
    """The centre tap of the 1-D kernel gaussian_blur uses: a cell's own share of its blurred value."""
    taps = _gaussian_taps(sigma)
    return float(taps[len(taps) // 2])


def _gaussian_taps(sigma: float) -> np.ndarray:
    """The 1-D Gaussian kernel OpenCV picks for float images (8 sigma + 1 taps), normalised."""
    half = (int(round(sigma * 8.0 + 1.0)) | 1) // 2
    taps = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    result: np.ndarray = taps / taps.sum()
    return result


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """n x n matrix of the 1-D Gaussian kernel OpenCV picks for float images (8 sigma + 1 taps)."""
    taps = _gaussian_taps(sigma)
    half = len(taps) // 2
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]
    inside = np.abs(offset) <= half
    return np.where(inside, taps[np.clip(offset + half, 0, 2 * half)], 0.0).astype(np.float32)


def _linear_matrix(n: int, factor: int, size: int) -> np.ndarray:
    """size x n matrix of the linear interpolation weights from n cells to its first `size` pixels."""
    source = np.maximum((np.arange(size) + 0.5) / factor - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(int), n - 1)
    high = np.minimum(low + 1, n - 1)
    frac = (source - low).astype(np.float32)
    weights = np.zeros((size, n), np.float32)
    np.add.at(weights, (np.arange(size), low), 1.0 - frac)
    np.add.at(weights, (np.arange(size), high), frac)
    return weights
