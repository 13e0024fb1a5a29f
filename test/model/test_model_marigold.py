"""The Marigold backend through diffusers' MarigoldDepthPipeline on a tiny saved pipeline."""
import numpy as np
import pytest
import torch

from depthmaster_ros.model import STAGES, TOTAL, ModelLoadError, Space, ensemble_members, load_estimator, spread_to_confidence


def photo(height, width, seed=0):
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    base = np.stack([rows * 3 % 256, cols * 2 % 256, (rows + cols) % 256], -1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def marigold(tiny_marigold_dir):
    return load_estimator('marigold', str(tiny_marigold_dir), 'cpu', 'fp32', marigold_steps=2)


def test_single_member_prediction_is_depth_without_confidence(marigold):
    prediction = marigold.predict(photo(45, 70), processing_res=64)
    assert marigold.backend == 'marigold' and marigold.space == Space.DEPTH == prediction.space
    assert prediction.relative.shape == (45, 70) and prediction.relative.dtype == np.float32
    assert 0.0 <= prediction.relative.min() and prediction.relative.max() <= 1.0
    assert prediction.confidence is None
    assert set(prediction.timings) == set(STAGES)
    assert prediction.timings['unet'] > 0 and prediction.timings['vae_decode'] > 0


def test_same_frame_same_prediction(marigold):
    rgb = photo(40, 48, seed=2)
    np.testing.assert_array_equal(marigold.predict(rgb, 48).relative, marigold.predict(rgb, 48).relative)


def test_timing_off_reports_only_the_total_and_the_same_map(marigold):
    rgb = photo(40, 48, seed=3)
    timed = marigold.predict(rgb, 48)
    untimed = marigold.predict(rgb, 48, timing=False)
    assert set(untimed.timings) == {TOTAL} and untimed.timings[TOTAL] > 0
    np.testing.assert_array_equal(untimed.relative, timed.relative)
    assert set(marigold.predict(rgb, 48).timings) == set(STAGES)   # the next timed frame is complete again


def test_a_tensor_frame_gives_the_numpy_prediction(marigold):
    rgb = photo(40, 48, seed=5)
    np.testing.assert_array_equal(marigold.predict(torch.from_numpy(rgb), 48).relative,
                                  marigold.predict(rgb, 48).relative)
    with pytest.raises(ValueError, match='^rgb: tensor is on meta'):
        marigold.predict(torch.zeros((40, 48, 3), dtype=torch.uint8, device='meta'), 48)


def test_ensemble_gives_a_confidence_map(tiny_marigold_dir):
    estimator = load_estimator('marigold', str(tiny_marigold_dir), 'cpu', 'fp32',
                               marigold_steps=1, marigold_ensemble_size=3)
    prediction = estimator.predict(photo(40, 56, seed=4), processing_res=48)
    assert prediction.space == Space.DEPTH
    assert prediction.confidence is not None and prediction.confidence.shape == (40, 56)
    assert prediction.confidence.dtype == np.float32
    assert 0.0 <= prediction.confidence.min() and prediction.confidence.max() <= 1.0
    assert prediction.confidence.std() > 0
    assert prediction.relative.min() == pytest.approx(0.0, abs=1e-3) and prediction.relative.max() <= 1.0


def test_ensembling_recovers_affine_copies_with_full_confidence():
    torch.manual_seed(0)
    truth = torch.rand(1, 1, 8, 9)
    members = torch.cat([truth, truth * 2 + 0.5, truth * 0.5 - 0.1])
    depth, spread = ensemble_members(members)
    normalised = (truth - truth.min()) / (truth.max() - truth.min())
    torch.testing.assert_close(depth, normalised[0], atol=1e-5, rtol=1e-5)
    assert spread.abs().max() < 1e-5
    assert spread_to_confidence(spread.numpy()).min() == pytest.approx(1.0)


def test_spread_maps_to_confidence_monotonically():
    confidence = spread_to_confidence(np.array([0.0, 0.05, 0.1, 0.5]))
    assert confidence.tolist() == pytest.approx([1.0, 0.5, 0.0, 0.0])


def test_processing_res_must_be_a_multiple_of_eight(marigold):
    with pytest.raises(ValueError, match='processing_res'):
        marigold.predict(photo(30, 40), processing_res=50)


@pytest.mark.parametrize('option, value', [('marigold_steps', 0), ('marigold_ensemble_size', 0)])
def test_bad_marigold_options(tiny_marigold_dir, option, value):
    with pytest.raises(ValueError, match=option):
        load_estimator('marigold', str(tiny_marigold_dir), 'cpu', 'fp32', **{option: value})


def test_depthmaster_checkpoint_is_refused_as_marigold(tiny_model_dir):
    with pytest.raises(ModelLoadError, match='scheduler'):
        load_estimator('marigold', str(tiny_model_dir), 'cpu', 'fp32')
