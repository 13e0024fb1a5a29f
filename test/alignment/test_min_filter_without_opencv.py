"""The LiDAR occlusion filter's numpy minimum filter (used where OpenCV is not installed) equals cv2.erode."""
import numpy as np
import pytest

from depthmaster_ros.alignment import lidar_projection


@pytest.mark.parametrize('window', [1, 2, 3, 4, 5, 8])
@pytest.mark.parametrize('shape', [(1, 1), (3, 40), (37, 53)])
def test_numpy_minimum_filter_equals_opencv_erosion(window, shape):
    import cv2
    rng = np.random.default_rng(window)
    image = rng.uniform(0.5, 10.0, shape).astype(np.float32)
    image[rng.random(shape) < 0.8] = np.inf
    expected = cv2.erode(image, np.ones((window, window), np.uint8), borderType=cv2.BORDER_CONSTANT,
                         borderValue=np.inf)
    np.testing.assert_array_equal(lidar_projection._min_filter_numpy(image, window), expected)
