"""Alignment confidence (alignment/confidence.py): 0..1, high among dense samples that agree with the
published metres, low far from every sample and where the samples disagree."""
import numpy as np
import pytest

from depthmaster_ros.alignment import (
    AGREEMENT_TOLERANCE,
    alignment_confidence,
    metric_depth_from_sparse,
    project_to_sparse_depth,
    sample_agreement,
    to_space,
)
from depthmaster_ros.synthetic import SyntheticScene, fake_prediction

HEIGHT, WIDTH = 240, 320


def wall(depth_m=6.0):
    """A flat scene at depth_m and its exact sqrt-disparity prediction (scale 1, shift 0)."""
    depth = np.full((HEIGHT, WIDTH), depth_m, np.float32)
    return depth, to_space(depth, 'sqrt_disparity').astype(np.float32)


def scan_lines(depth, columns=slice(None), row_step=8):
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[::row_step, columns] = depth[::row_step, columns]
    return sparse


def test_the_map_is_float32_in_zero_to_one_with_the_image_shape():
    scene = SyntheticScene(width=WIDTH, height=HEIGHT)
    frame = scene.render(0.5)
    relative = fake_prediction(frame.depth, 'sqrt_disparity', np.random.default_rng(1)).astype(np.float32)
    sparse = project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, WIDTH, HEIGHT).depth
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse)
    assert result.ok, result.reason
    confidence = alignment_confidence(relative, 'sqrt_disparity', sparse, result.scale, result.shift)
    assert confidence.dtype == np.float32 and confidence.shape == (HEIGHT, WIDTH)
    assert 0.0 <= confidence.min() and confidence.max() <= 1.0 and confidence.max() > 0.8


def test_high_among_dense_agreeing_samples_and_low_far_from_any():
    depth, relative = wall()
    sparse = scan_lines(depth, columns=slice(0, WIDTH // 3))          # samples on the left third only
    confidence = alignment_confidence(relative, 'sqrt_disparity', sparse, 1.0, 0.0)
    assert confidence[HEIGHT // 2, WIDTH // 6] > 0.9
    assert confidence[HEIGHT // 2, WIDTH - 1] < 0.05                   # 200 px from the nearest sample
    row = confidence[HEIGHT // 2]
    assert np.all(np.diff(row[WIDTH // 3:]) <= 1e-6)                   # falls off with the distance


def test_sparse_samples_give_less_than_dense_ones():
    depth, relative = wall()
    dense = scan_lines(depth, row_step=4)
    few = np.full(depth.shape, np.nan, np.float32)
    few[HEIGHT // 2, WIDTH // 2] = depth[HEIGHT // 2, WIDTH // 2]      # one lone sample
    at_dense = alignment_confidence(relative, 'sqrt_disparity', dense, 1.0, 0.0)[HEIGHT // 2, WIDTH // 2]
    at_lone = alignment_confidence(relative, 'sqrt_disparity', few, 1.0, 0.0)[HEIGHT // 2, WIDTH // 2]
    assert at_dense > 0.9 and at_lone < 0.6


def test_low_where_the_samples_disagree_with_the_published_depth():
    depth, relative = wall()
    sparse = scan_lines(depth)
    sparse[:, WIDTH // 2:] *= 1.2                     # the right half's samples say 20 % farther
    confidence = alignment_confidence(relative, 'sqrt_disparity', sparse, 1.0, 0.0)
    assert confidence[HEIGHT // 2, WIDTH // 8] > 0.9
    assert confidence[HEIGHT // 2, 7 * WIDTH // 8] < 0.1


def test_scattered_outliers_lower_it_in_proportion():
    depth, relative = wall()
    sparse = scan_lines(depth, row_step=4)
    rows, cols = np.nonzero(np.isfinite(sparse))
    pick = np.random.default_rng(0).random(len(rows)) < 0.2
    sparse[rows[pick], cols[pick]] *= 0.4                 # 20 % spurious near returns
    confidence = alignment_confidence(relative, 'sqrt_disparity', sparse, 1.0, 0.0)
    assert 0.7 < float(np.median(confidence[40:-40, 40:-40])) < 0.9


def test_local_correction_maps_are_what_is_judged():
    depth, relative = wall()
    sparse = scan_lines(depth)
    sparse[:, WIDTH // 2:] *= 1.2
    scale = np.ones((HEIGHT, WIDTH), np.float32)
    scale[:, WIDTH // 2:] = 1.0 / np.sqrt(1.2)          # a correction that follows the right half
    confidence = alignment_confidence(relative, 'sqrt_disparity', sparse, scale, np.zeros_like(scale))
    assert confidence[HEIGHT // 2, 7 * WIDTH // 8] > 0.9


def test_without_samples_the_map_is_zero_and_shapes_are_checked():
    depth, relative = wall()
    empty = np.full(depth.shape, np.nan, np.float32)
    assert not alignment_confidence(relative, 'sqrt_disparity', empty, 1.0, 0.0).any()
    with pytest.raises(ValueError, match='sparse_depth'):
        alignment_confidence(relative, 'sqrt_disparity', empty[:10], 1.0, 0.0)


def test_sample_agreement_is_one_half_at_the_tolerance_and_zero_without_depth():
    agreement = sample_agreement(np.array([5.0, 5.0 * (1 + AGREEMENT_TOLERANCE), np.nan]), np.array([5.0, 5.0, 5.0]))
    assert agreement.tolist() == pytest.approx([1.0, 0.5, 0.0])


def test_the_numpy_upsampling_is_opencvs():
    from depthmaster_ros.alignment import confidence
    cells = np.random.default_rng(2).random((7, 9)).astype(np.float32)
    for height, width in ((56, 72), (50, 67)):
        np.testing.assert_allclose(confidence._upsample_numpy(cells, height, width),
                                   confidence.upsample_cells(cells, height, width), atol=1e-5)


@pytest.mark.parametrize('shape, share', [((60, 80), 0.02), ((47, 155), 0.2), ((9, 5), 0.3), ((30, 40), 0.0)])
def test_the_nearness_term_is_the_largest_weight_of_any_occupied_cell(shape, share):
    """exp(-d^2 / 2 R^2) to the nearest occupied cell within 4 R along each axis, as the module notes say."""
    from depthmaster_ros.alignment import confidence
    reach = 4.0
    occupied = np.random.default_rng(len(shape) + int(100 * share)).random(shape) < share
    nearness = confidence._max_filter_along_columns(confidence._nearness_along_rows(occupied, reach), reach)
    rows, cols = np.nonzero(occupied)
    expected = np.zeros(shape)
    radius = [min(int(np.ceil(4 * reach)), length - 1) for length in shape]
    for i, j in np.ndindex(*shape):
        near = (np.abs(rows - i) <= radius[0]) & (np.abs(cols - j) <= radius[1])
        if near.any():
            squared = (rows[near] - i) ** 2 + (cols[near] - j) ** 2
            expected[i, j] = np.exp(-0.5 * squared.min() / reach ** 2)
    np.testing.assert_allclose(nearness, expected, rtol=1e-12, atol=0)
