"""The table metrics against hand-computed cases and an independent per-pixel implementation."""
import math

import numpy as np
import pytest

from depthmaster_ros.evaluation import METRIC_KEYS, RELATIVE_KEYS, image_metrics, mean_metrics


def reference_metrics(pred, gt, mask):
    """The definitions written out pixel by pixel with the math module (no numpy reductions)."""
    pairs = [(float(p), float(g)) for p, g, m in zip(pred.ravel(), gt.ravel(), mask.ravel()) if m]
    n = len(pairs)
    ratio = [max(p / g, g / p) for p, g in pairs]
    return {
        'mae': sum(abs(p - g) for p, g in pairs) / n,
        'abs_rel': sum(abs(p - g) / g for p, g in pairs) / n,
        'sq_rel': sum((p - g) ** 2 / g for p, g in pairs) / n,
        'rmse': math.sqrt(sum((p - g) ** 2 for p, g in pairs) / n),
        'rmse_log': math.sqrt(sum((math.log(p) - math.log(g)) ** 2 for p, g in pairs) / n),
        'log10': sum(abs(math.log10(p) - math.log10(g)) for p, g in pairs) / n,
        'delta1': sum(r < 1.25 for r in ratio) / n,
        'delta2': sum(r < 1.25 ** 2 for r in ratio) / n,
        'delta3': sum(r < 1.25 ** 3 for r in ratio) / n,
    }


def test_hand_computed_case():
    # pixels (pred, gt): (1, 1), (2, 1), (3, 4), masked out: (100, 1)
    pred = np.array([[1.0, 2.0], [3.0, 100.0]])
    gt = np.array([[1.0, 1.0], [4.0, 1.0]])
    mask = np.array([[True, True], [True, False]])
    got = image_metrics(pred, gt, mask)
    assert got['mae'] == pytest.approx((0 + 1 + 1) / 3)
    assert got['abs_rel'] == pytest.approx((0 + 1 + 0.25) / 3)
    assert got['sq_rel'] == pytest.approx((0 + 1 + 0.25) / 3)          # 1/1 and 1/4
    assert got['rmse'] == pytest.approx(math.sqrt(2 / 3))
    assert got['rmse_log'] == pytest.approx(math.sqrt((math.log(2) ** 2 + math.log(4 / 3) ** 2) / 3))
    assert got['log10'] == pytest.approx((math.log10(2) + math.log10(4 / 3)) / 3)
    # ratios 1, 2, 4/3: below 1.25 one; below 1.5625 two; below 1.953 two
    assert (got['delta1'], got['delta2'], got['delta3']) == pytest.approx((1 / 3, 2 / 3, 2 / 3))


def test_delta_thresholds_are_strict_powers_of_1_25():
    gt = np.ones(3)
    pred = np.array([1.25, 1.25 ** 2, 1.25 ** 3])
    got = image_metrics(pred, gt, np.ones(3, bool))
    assert (got['delta1'], got['delta2'], got['delta3']) == pytest.approx((0.0, 1 / 3, 2 / 3))


@pytest.mark.parametrize('seed', range(4))
def test_matches_the_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.5, 20.0, (13, 17))
    pred = gt * np.exp(rng.normal(0.0, 0.3, gt.shape))
    mask = rng.random(gt.shape) < 0.7
    got, expected = image_metrics(pred, gt, mask), reference_metrics(pred, gt, mask)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], rel=1e-12), key


def test_empty_mask_gives_nan_and_the_mean_leaves_such_images_out():
    empty = image_metrics(np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), bool))
    assert all(math.isnan(v) for v in empty.values())
    rows = [{'abs_rel': 0.1}, {'abs_rel': 0.3}, empty]
    assert mean_metrics(rows, ('abs_rel',)) == {'abs_rel': pytest.approx(0.2)}


def test_the_mean_is_over_images_not_pixels():
    one = image_metrics(np.array([2.0]), np.array([1.0]), np.array([True]))                   # abs_rel 1
    many = image_metrics(np.ones(99), np.ones(99), np.ones(99, bool))                           # abs_rel 0
    assert mean_metrics([one, many], RELATIVE_KEYS)['abs_rel'] == pytest.approx(0.5)
    assert set(METRIC_KEYS) == set(RELATIVE_KEYS) | {'mae'}
