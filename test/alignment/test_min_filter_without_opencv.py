"""The LiDAR occlusion filter's numpy erosion (used where OpenCV is not installed) equals cv2.erode,
for the centred square window and for the one-sided boxes of the support test, on float32 depths and
on the uint16 depth ranks."""
import cv2
import numpy as np
import pytest

from depthmaster_ros.alignment import lidar_projection


def sparse_image(shape, seed, dtype=np.float32):
    """Depths (float32, +inf empty) or depth ranks (uint16, its largest value empty), as the filter erodes."""
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.5, 10.0, shape).astype(np.float32)
    if dtype == np.uint16:
        image = (image * 1000).astype(np.uint16)
    image[rng.random(shape) < 0.8] = np.inf if dtype == np.float32 else np.iinfo(np.uint16).max
    return image


@pytest.mark.parametrize('window', [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize('shape', [(1, 1), (3, 40), (37, 53)])
def test_numpy_square_minimum_equals_opencv_erosion(window, shape):
    image = sparse_image(shape, window)
    expected = cv2.erode(image, np.ones((window, window), np.uint8), borderType=cv2.BORDER_CONSTANT,
                         borderValue=np.inf)
    centre = window // 2
    np.testing.assert_array_equal(lidar_projection._erode_numpy(image, ((window, centre), (window, centre))),
                                  expected)


@pytest.mark.parametrize('dtype', [np.float32, np.uint16])
@pytest.mark.parametrize('rows, cols, anchor_row, anchor_col', [(3, 5, 1, 0), (3, 5, 1, 4), (6, 3, 0, 1),
                                                                (6, 3, 5, 1), (1, 7, 0, 3), (3, 1, 1, 0),
                                                                (1, 8, 0, 0), (20, 1, 0, 0)])
def test_numpy_one_sided_boxes_equal_opencv_erosion(rows, cols, anchor_row, anchor_col, dtype):
    image = sparse_image((29, 41), rows * 10 + cols, dtype)
    empty = np.inf if dtype == np.float32 else np.iinfo(np.uint16).max
    expected = cv2.erode(image, np.ones((rows, cols), np.uint8), anchor=(anchor_col, anchor_row),
                         borderType=cv2.BORDER_CONSTANT, borderValue=empty)
    np.testing.assert_array_equal(
        lidar_projection._erode_numpy(image, ((rows, anchor_row), (cols, anchor_col))), expected)
