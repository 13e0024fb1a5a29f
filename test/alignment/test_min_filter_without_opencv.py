"""The LiDAR occlusion filter's numpy erosion (used where OpenCV is not installed) equals cv2.erode,
for the centred square window and for the one-sided boxes of the support test."""
import cv2
import numpy as np
import pytest

from depthmaster_ros.alignment import lidar_projection


def sparse_image(shape, seed):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0.5, 10.0, shape).astype(np.float32)
    image[rng.random(shape) < 0.8] = np.inf
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


@pytest.mark.parametrize('rows, cols, anchor_row, anchor_col', [(3, 5, 1, 0), (3, 5, 1, 4), (6, 3, 0, 1),
                                                                (6, 3, 5, 1), (1, 7, 0, 3)])
def test_numpy_one_sided_boxes_equal_opencv_erosion(rows, cols, anchor_row, anchor_col):
    image = sparse_image((29, 41), rows * 10 + cols)
    expected = cv2.erode(image, np.ones((rows, cols), np.uint8), anchor=(anchor_col, anchor_row),
                         borderType=cv2.BORDER_CONSTANT, borderValue=np.inf)
    np.testing.assert_array_equal(
        lidar_projection._erode_numpy(image, ((rows, anchor_row), (cols, anchor_col))), expected)
