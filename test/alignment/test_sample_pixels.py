"""The LiDAR projection's return pixels travel with its samples: the fit and the confidence use them
instead of scanning the image, with the same result; and the robust start ranks its candidate lines
by partitioning only those that can win, with the same choice."""
import numpy as np
import pytest

from depthmaster_ros.alignment import (
    PROBE_ROWS,
    alignment_confidence,
    fit_to_sparse_depth,
    lowest_median_row,
    project_to_sparse_depth,
    sample_indices,
)
from depthmaster_ros.synthetic import SyntheticScene, fake_prediction

HEIGHT, WIDTH = 240, 320


@pytest.fixture(scope='module')
def lidar_frame():
    """(relative sqrt-disparity, projected LiDAR) of one synthetic street frame."""
    frame = SyntheticScene(width=WIDTH, height=HEIGHT).render(0.5)
    relative = fake_prediction(frame.depth, 'sqrt_disparity', np.random.default_rng(3)).astype(np.float32)
    return relative, project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, WIDTH, HEIGHT)


def test_the_projection_reports_its_return_pixels_in_image_order(lidar_frame):
    _, projected = lidar_frame
    assert projected.pixels.dtype.kind == 'i'
    np.testing.assert_array_equal(projected.pixels, np.flatnonzero(np.isfinite(projected.depth)))


def same_result(a, b):
    def fields(result):
        return {name: 'nan' if value != value else value for name, value in result.as_dict().items()}
    assert fields(a) == fields(b)
    assert (a.local_correction is None) == (b.local_correction is None)
    for got, want in zip(a.local_correction or (), b.local_correction or ()):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('method', ['global', 'local'])
def test_the_fit_with_the_return_pixels_is_the_fit_of_the_scanned_image(lidar_frame, method):
    relative, projected = lidar_frame
    scanned = fit_to_sparse_depth(relative, 'sqrt_disparity', projected.depth, method=method, max_points=500,
                                  focal_px=200.0, check_extrinsic=True)
    assert scanned.ok, scanned.reason
    every_pixel = np.arange(relative.size)       # any superset of the samples, in image order, gives the same
    for pixels in (projected.pixels, every_pixel):
        same_result(fit_to_sparse_depth(relative, 'sqrt_disparity', projected.depth, method=method, max_points=500,
                                        focal_px=200.0, check_extrinsic=True, sample_pixels=pixels), scanned)


def test_sample_indices_among_given_pixels_keep_the_depth_limits(lidar_frame):
    relative, projected = lidar_frame
    scanned = sample_indices(relative, projected.depth, 5.0, 30.0, 10**6, 0)
    assert 0 < len(scanned) < len(projected.pixels)
    np.testing.assert_array_equal(sample_indices(relative, projected.depth, 5.0, 30.0, 10**6, 0,
                                                 projected.pixels), scanned)


def test_the_confidence_with_the_return_pixels_is_the_confidence_of_the_scanned_image(lidar_frame):
    relative, projected = lidar_frame
    scanned = alignment_confidence(relative, 'sqrt_disparity', projected.depth, 1.1, 0.01)
    np.testing.assert_array_equal(alignment_confidence(relative, 'sqrt_disparity', projected.depth, 1.1, 0.01,
                                                       sample_pixels=projected.pixels), scanned)


@pytest.mark.parametrize('pixels', [np.array([-1, 5]), np.array([0, HEIGHT * WIDTH]), np.array([0.5, 2.0])])
def test_pixels_outside_the_image_name_the_argument(lidar_frame, pixels):
    relative, projected = lidar_frame
    with pytest.raises(ValueError, match='sample_pixels'):
        fit_to_sparse_depth(relative, 'sqrt_disparity', projected.depth, sample_pixels=pixels)
    with pytest.raises(ValueError, match='sample_pixels'):
        alignment_confidence(relative, 'sqrt_disparity', projected.depth, 1.0, 0.0, sample_pixels=pixels)


@pytest.mark.parametrize('columns', [500, 499, 7])
def test_the_lowest_median_row_is_the_argmin_of_every_median(columns):
    rng = np.random.default_rng(columns)
    for trial in range(40):
        rows = int(rng.integers(1, 120))
        values = np.abs(rng.normal(0.0, rng.uniform(0.1, 2.0, (rows, 1)), (rows, columns)))
        values[rng.random((rows, columns)) < rng.uniform(0, 0.6)] *= 50.0      # outliers, more in some rows
        if trial % 3 == 0:
            values[rng.integers(rows)] = values[rng.integers(rows)]           # ties go to the first row
        if trial % 4 == 0:
            values = np.round(values, 1)                                      # many equal values
        assert lowest_median_row(values) == int(np.argmin(np.median(values, axis=1)))


def test_a_winner_after_the_probe_rows_is_found():
    values = np.ones((PROBE_ROWS + 5, 11))
    values[-1] = 0.5
    assert lowest_median_row(values) == PROBE_ROWS + 4
