"""The local alignment's grid operations without OpenCV (numpy matrix products) equal OpenCV's, and so
does the whole local correction, so a machine without OpenCV publishes the same depth."""
import cv2
import numpy as np
import pytest

from depthmaster_ros.alignment import cell_grid, metric_depth_from_sparse, to_space


@pytest.fixture
def without_opencv(monkeypatch):
    monkeypatch.setattr(cell_grid, 'cv2', None)


@pytest.mark.parametrize('sigma', [1.0, 2.0, 4.0, 8.0])
@pytest.mark.parametrize('shape', [(1, 1), (5, 3), (30, 40), (24, 78, 5)])
def test_numpy_gaussian_blur_equals_opencv(sigma, shape, without_opencv):
    grid = np.random.default_rng(int(sigma)).normal(size=shape).astype(np.float32)
    expected = cv2.GaussianBlur(grid, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_allclose(cell_grid.gaussian_blur(grid, sigma), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('shape, height, width', [((30, 40), 480, 640), ((24, 78), 375, 1242), ((1, 1), 5, 7),
                                                  ((2, 3), 20, 40)])
def test_numpy_upsampling_equals_opencv_bilinear_resize(shape, height, width, without_opencv):
    grid = np.random.default_rng(height).normal(size=shape).astype(np.float32)
    expected = cv2.resize(grid, (shape[1] * 16, shape[0] * 16), interpolation=cv2.INTER_LINEAR)[:height, :width]
    got = cell_grid.upsample(grid, 16, height, width)
    assert got.shape == (height, width) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_local_alignment_without_opencv_publishes_the_same_depth(monkeypatch):
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:96, 0:128]
    depth = (4.0 + 3.0 * rows / 96 + 2.0 * (cols > 64)).astype(np.float32)
    smooth = 1.0 + 0.05 * np.sin(cols / 20.0)
    relative = (2.0 * to_space(depth * smooth, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    picked = rng.choice(depth.size, 600, replace=False)
    sparse.ravel()[picked] = depth.ravel()[picked]
    with_cv2, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, method='local')
    assert result.ok and result.local_correction is not None
    monkeypatch.setattr(cell_grid, 'cv2', None)
    without, _ = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse, method='local')
    np.testing.assert_allclose(without, with_cv2, rtol=1e-5)
