"""The shared argument check names the argument for every kind of unusable array."""
import numpy as np
import pytest

from depthmaster_ros.geometry import IMAGE, POINTS, float_array


def test_float32_and_float64_are_kept_and_other_types_widened():
    assert float_array(np.zeros((2, 3), np.float32), 'depth', IMAGE).dtype == np.float32
    assert float_array(np.zeros((2, 3), np.float64), 'depth', IMAGE).dtype == np.float64
    assert float_array(np.zeros((4, 3), np.int16), 'points', POINTS).dtype == np.float64
    assert float_array([[1, 2, 3]], 'points', POINTS, np.float32).dtype == np.float32


@pytest.mark.parametrize('values, shape, fragment', [
    (np.zeros((2, 3, 1)), IMAGE, 'expected a 2-D image'),
    (np.zeros((4, 2)), POINTS, 'expected an Nx3 array'),
    ([['a', 'b', 'c']], POINTS, 'not numeric'),
    (object(), IMAGE, 'not numeric'),
])
def test_unusable_arrays_raise_value_error_naming_the_argument(values, shape, fragment):
    with pytest.raises(ValueError, match=f'cloud_xyz: {fragment}'):
        float_array(values, 'cloud_xyz', shape)
