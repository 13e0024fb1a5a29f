"""Crowded samples do not own the line: each counts less where many share its part of the image."""
import numpy as np
import pytest

from depthmaster_ros.alignment import (
    DENSITY_GRID,
    apply_alignment,
    fit_samples,
    least_squares_scale_shift,
    metric_depth_from_sparse,
    representative_weights,
    to_space,
)


def test_a_lone_sample_weighs_more_than_one_of_a_crowd():
    shape = (DENSITY_GRID * 10, DENSITY_GRID * 10)
    crowd = np.arange(16) // 4 * shape[1] + np.arange(16) % 4     # 16 samples in the top-left cell
    lone = np.array([shape[0] * shape[1] - 1])                       # one in the bottom-right cell
    weights = representative_weights(np.concatenate([crowd, lone]), shape)
    assert weights.mean() == pytest.approx(1.0)
    assert weights[-1] / weights[0] == pytest.approx(4.0)            # (16 / 1) ** 0.5
    assert representative_weights(np.array([], np.int64), shape).shape == (0,)


@pytest.mark.parametrize('seed', [0, 2])
def test_samples_crowded_near_the_camera_do_not_bend_the_line_to_their_error(seed):
    """Dense rows near the camera, sparse far ones, a smooth non-affine model error: close to the all-pixel fit."""
    height, width = 120, 160
    rows = np.arange(height, dtype=np.float64)[:, None] / height * np.ones((1, width))
    cols = np.ones((height, 1)) * np.arange(width)[None, :] / width
    depth = 2.0 + 18.0 * (1.0 - rows) ** 2
    model_error = 0.05 * np.sin(2 * np.pi * (rows + 0.5 * cols) + seed)
    noise = 1 + 0.01 * np.random.default_rng(seed).standard_normal(depth.shape)
    relative = (2.0 * to_space(depth * (1 + model_error) * noise, 'sqrt_disparity') + 0.3).astype(np.float32)
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse[80::2, ::2] = depth[80::2, ::2]           # 1600 samples in the bottom third
    sparse[:80:8, ::8] = depth[:80:8, ::8]           # 200 above it
    _, result = metric_depth_from_sparse(relative, 'sqrt_disparity', sparse)

    def abs_rel(scale, shift):
        metric = apply_alignment(relative, 'sqrt_disparity', scale, shift, 0.1, 1000.0)
        return float(np.mean(np.abs(metric - depth) / depth))
    oracle = least_squares_scale_shift(relative.ravel().astype(np.float64), to_space(depth.ravel(), 'sqrt_disparity'))
    assert result.ok, result.reason
    assert abs_rel(result.scale, result.shift) <= 1.10 * abs_rel(*oracle)


def test_weights_must_match_the_samples_and_be_positive():
    pred = np.linspace(1.0, 2.0, 50)
    with pytest.raises(ValueError, match='weights'):
        fit_samples(pred, 0.5 * pred, 'depth', weights=np.ones(49))
    with pytest.raises(ValueError, match='weights'):
        fit_samples(pred, 0.5 * pred, 'depth', weights=np.zeros(50))
