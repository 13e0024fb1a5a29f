"""The zero-shot protocol: fit space, fit pixels, the clip chain, and the crops and ranges per dataset."""
import numpy as np
import pytest

from depthmaster_ros.evaluation import (
    align_to_ground_truth,
    dataset_class,
    fit_mask,
    kitti_benchmark_crop,
    kitti_eigen_mask,
    nyu_eigen_mask,
    protocol_for_space,
)


def scene_depth(seed=0, shape=(24, 32)):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.8, 9.0, shape)


@pytest.mark.parametrize('protocol, forward', [
    ('least_square_sqrt_disp', lambda d: np.sqrt(1 / d)),
    ('least_square_disparity', lambda d: 1 / d),
    ('least_square', lambda d: d),
])
def test_an_affine_map_of_the_truth_in_the_fit_space_comes_back_exactly(protocol, forward):
    gt = scene_depth()
    mask = np.ones(gt.shape, bool)
    pred = 3.0 * forward(gt) - 0.2
    depth, scale, shift = align_to_ground_truth(pred, gt, mask, protocol, 1e-3, 10.0)
    assert scale == pytest.approx(1 / 3)
    assert shift == pytest.approx(0.2 / 3)
    np.testing.assert_allclose(depth, gt, rtol=1e-9)


def test_the_fit_uses_masked_pixels_with_positive_truth_and_prediction_only():
    gt = scene_depth(1)
    pred = np.sqrt(1 / gt)
    pred[0, :5] = -1.0            # negative prediction: left out of a disparity-space fit, kept in depth space
    mask = np.ones(gt.shape, bool)
    mask[1] = False
    sqrt_mask = fit_mask(pred, gt, mask, 'least_square_sqrt_disp')
    assert not sqrt_mask[0, :5].any() and not sqrt_mask[1].any() and sqrt_mask[2:].all()
    assert fit_mask(pred, gt, mask, 'least_square')[0, :5].all()
    depth, _, _ = align_to_ground_truth(pred, gt, mask, 'least_square_sqrt_disp', 1e-3, 10.0)
    np.testing.assert_allclose(depth[2:], gt[2:], rtol=1e-9)      # the outliers moved nothing


def test_clip_chain_square_clip_invert_clip():
    """Fitted values: 0 (disparity floor 1e-3 -> 1000 m -> the dataset maximum), and values below
    the minimum; an independent least-squares fit gives the same line."""
    gt = np.array([1.0, 2.0, 4.0, 8.0])
    pred = np.array([4.0, 3.0, 2.0, 1.5])
    mask = np.ones(4, bool)
    depth, scale, shift = align_to_ground_truth(pred, gt, mask, 'least_square_sqrt_disp', 1.5, 6.0)
    expected_scale, expected_shift = np.polyfit(pred, np.sqrt(1 / gt), 1)
    assert (scale, shift) == pytest.approx((expected_scale, expected_shift))
    fitted = expected_scale * pred + expected_shift
    expected = np.clip(1 / np.maximum(fitted ** 2, 1e-3), 1.5, 6.0)
    np.testing.assert_allclose(depth, expected)
    far = np.array([-expected_shift / expected_scale])   # fitted value 0: disparity clipped to 1e-3
    depth_far, _, _ = align_to_ground_truth(np.concatenate([pred, far]), np.append(gt, 100.0),
                                            np.append(mask, False), 'least_square_sqrt_disp', 1e-3, np.inf)
    assert depth_far[-1] == pytest.approx(1000.0)


def test_depth_space_results_are_clipped_to_the_range_and_kept_positive():
    gt = np.array([1.0, 2.0, 3.0])
    pred = np.array([1.0, 2.0, 3.0, -5.0, 50.0])
    mask = np.array([True, True, True, False, False])
    depth, _, _ = align_to_ground_truth(pred, np.append(gt, [1.0, 1.0]), mask, 'least_square', 0.0, 10.0)
    np.testing.assert_allclose(depth, [1.0, 2.0, 3.0, 1e-6, 10.0])


def test_the_default_protocol_is_the_prediction_space():
    assert protocol_for_space('sqrt_disparity') == 'least_square_sqrt_disp'
    assert protocol_for_space('depth') == 'least_square'
    with pytest.raises(ValueError):
        protocol_for_space('log_depth')


def test_kitti_crops_are_pinned():
    image = np.arange(375 * 1242).reshape(375, 1242)
    crop = kitti_benchmark_crop(image)
    assert crop.shape == (352, 1216)
    assert crop[0, 0] == image[23, 13]                        # bottom rows, centred columns
    mask = kitti_eigen_mask((352, 1216))
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (117, 321, 43, 1172)
    assert mask.sum() == (321 - 117) * (1172 - 43)


def test_nyu_eigen_crop_is_pinned():
    mask = nyu_eigen_mask((480, 640))
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    assert (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1) == (45, 471, 41, 601)


@pytest.mark.parametrize('name, low, high, count', [
    ('kitti', 1e-5, 80.0, 652), ('nyu', 1e-3, 10.0, 654), ('eth3d', 1e-5, np.inf, 454),
    ('scannet', 1e-3, 10.0, 800), ('diode', 0.6, 350.0, 771),
])
def test_depth_ranges_and_split_sizes_are_pinned(name, low, high, count):
    cls = dataset_class(name)
    assert (cls.range.min_depth, cls.range.max_depth, cls.official_count) == (low, high, count)
    depth = np.array([low, np.nextafter(low, np.inf), 5.0, high, np.inf, np.nan])
    assert cls.range.mask(depth).tolist() == [False, True, True, False, False, False]   # strict bounds
