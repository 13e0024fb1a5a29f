"""The DepthMaster estimator end to end on the tiny model, against a step-by-step reference.

The reference below is written from the inference notes with diffusers' public API
(`vae.encode(...).latent_dist.mode()`, `unet(...)`, `vae.decode(...)`) and its own functional FE,
so a wrong detail in the estimator (rounding, antialias, padding, scale factors, timestep, text
embedding) shows up as a mismatch.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthmaster_ros.model import STAGES, Space, load_estimator

from fixtures_model import reference_fourier, textured_rgb


class ReferencePipeline:
    def __init__(self, directory):
        from diffusers import AutoencoderKL, UNet2DConditionModel
        from safetensors.torch import load_file
        from transformers import CLIPTextModel, CLIPTokenizer
        self.unet = UNet2DConditionModel.from_pretrained(directory / 'unet').eval()
        self.vae = AutoencoderKL.from_pretrained(directory / 'vae').eval()
        weights = load_file(str(directory / 'unet' / 'diffusion_pytorch_model.safetensors'))
        self.fourier_state = {k[len('fftblock.'):]: v for k, v in weights.items() if k.startswith('fftblock.')}
        tokenizer = CLIPTokenizer.from_pretrained(directory / 'tokenizer')
        ids = tokenizer('', padding='do_not_pad', truncation=True, max_length=77, return_tensors='pt').input_ids
        assert ids.tolist() == [[tokenizer.bos_token_id, tokenizer.eos_token_id]]
        with torch.no_grad():
            self.text = CLIPTextModel.from_pretrained(directory / 'text_encoder')(ids).last_hidden_state
        self.unet.mid_block.register_forward_hook(lambda module, args, out: reference_fourier(self.fourier_state, out))
        self.decoded_shape = None

    @torch.no_grad()
    def __call__(self, rgb, processing_res):
        height, width = rgb.shape[:2]
        image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
        if processing_res > 0:
            scale = min(processing_res / width, processing_res / height)
            size = (int(height * scale), int(width * scale))
            if size != (height, width):
                image = F.interpolate(image.to(torch.float32), size, mode='bilinear', align_corners=False, antialias=True)
                image = torch.round(image).to(torch.uint8)
        image = image.to(torch.float32) / 255.0 * 2.0 - 1.0
        latent = self.vae.encode(image).latent_dist.mode() * 0.18215
        depth_latent = self.unet(latent, 1, encoder_hidden_states=self.text).sample
        decoded = self.vae.decode(depth_latent / 0.18215).sample
        self.decoded_shape = tuple(decoded.shape[-2:])
        depth = (torch.clip(decoded.mean(dim=1, keepdim=True), -1, 1) + 1) / 2
        if tuple(depth.shape[-2:]) != (height, width):
            depth = F.interpolate(depth, (height, width), mode='bilinear', align_corners=False, antialias=True)
        return np.clip(depth[0, 0].numpy(), 0, 1)


@pytest.fixture(scope='module')
def reference(tiny_model_dir):
    return ReferencePipeline(tiny_model_dir)


def test_end_to_end_shape_dtype_range_space_and_timings(tiny_estimator):
    rgb = textured_rgb(75, 121)
    prediction = tiny_estimator.predict(rgb, processing_res=64)
    assert prediction.space == Space.SQRT_DISPARITY == tiny_estimator.space
    assert prediction.relative.shape == (75, 121) and prediction.relative.dtype == np.float32
    assert 0.0 <= prediction.relative.min() and prediction.relative.max() <= 1.0
    assert prediction.relative.std() > 0
    assert prediction.confidence is None
    assert set(prediction.timings) == set(STAGES) and all(value >= 0 for value in prediction.timings.values())
    assert tiny_estimator.backend == 'depthmaster' and tiny_estimator.device == torch.device('cpu')
    assert tiny_estimator.dtype == torch.float32


def test_deterministic(tiny_estimator):
    rgb = textured_rgb(60, 80, seed=3)
    first = tiny_estimator.predict(rgb, 64).relative
    second = tiny_estimator.predict(rgb.copy(), 64).relative
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize('height, width, processing_res', [
    (101, 157, 96),   # downscale: uint8 rounding matters
    (101, 157, 0),    # native, odd sizes: no padding, decoded map stretched back
    (75, 121, 200),   # upscale in, antialiased downscale out
    (48, 64, 64),     # processed size equals input: resize is a no-op
])
def test_matches_the_reference_pipeline(tiny_estimator, reference, height, width, processing_res):
    rgb = textured_rgb(height, width, seed=height)
    ours = tiny_estimator.predict(rgb, processing_res).relative
    expected = reference(rgb, processing_res)
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)


def test_reference_detects_a_missing_rounding(tiny_estimator, reference):
    """Guards the parity test itself: skipping the uint8 rounding would not go unnoticed."""
    rgb = textured_rgb(101, 157, seed=101)
    exact = reference(rgb, 96)
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None].float()
    unrounded = F.interpolate(image, (61, 96), mode='bilinear', align_corners=False, antialias=True)
    assert not torch.equal(unrounded, torch.round(unrounded))
    ours = tiny_estimator.predict(rgb, 96).relative
    assert np.abs(ours - exact).max() < 1e-5


def test_no_padding_odd_native_size_is_stretched_back(tiny_estimator):
    sizes = {}

    def record_input(module, args):
        sizes['in'] = tuple(args[0].shape[-2:])

    def record_output(module, args, out):
        sizes['out'] = tuple(out.shape[-2:])

    hooks = [tiny_estimator.vae.encoder.register_forward_pre_hook(record_input),
             tiny_estimator.vae.decoder.register_forward_hook(record_output)]
    try:
        prediction = tiny_estimator.predict(textured_rgb(101, 157), processing_res=0)
    finally:
        for hook in hooks:
            hook.remove()
    assert sizes['in'] == (101, 157)       # no pad to a multiple of 8
    # Each VAE downsample maps n -> (n - 2) // 2 + 1: 101 -> 50 -> 25 -> 12, 157 -> 78 -> 39 -> 19; decoder x8.
    assert sizes['out'] == (96, 152)
    assert prediction.relative.shape == (101, 157)


def test_processing_res_sets_the_processed_size(tiny_estimator):
    seen = []
    hook = tiny_estimator.vae.encoder.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        tiny_estimator.predict(textured_rgb(37, 123), processing_res=100)
    finally:
        hook.remove()
    assert seen == [(30, 100)]   # 37 * 100/123 = 30.08 -> 30


def test_predict_batch_equals_predict(tiny_estimator):
    frames = [textured_rgb(48, 64, seed=s) for s in range(3)] + [textured_rgb(40, 56, seed=9)]
    batch = tiny_estimator.predict_batch(frames, processing_res=64)
    assert len(batch) == 4
    for frame, prediction in zip(frames, batch):
        np.testing.assert_allclose(prediction.relative, tiny_estimator.predict(frame, 64).relative, rtol=1e-5, atol=1e-5)


def test_predict_batch_runs_same_size_frames_in_one_forward(tiny_estimator):
    batch_sizes = []
    hook = tiny_estimator.unet.register_forward_pre_hook(lambda m, args: batch_sizes.append(args[0].shape[0]))
    try:
        tiny_estimator.predict_batch([textured_rgb(48, 64, seed=s) for s in range(3)], processing_res=64)
    finally:
        hook.remove()
    assert batch_sizes == [3]


def test_predict_tensor_returns_the_map_on_the_device(tiny_estimator):
    rgb = textured_rgb(48, 64)
    maps, timings = tiny_estimator.predict_tensor(rgb[None], processing_res=64)
    assert isinstance(maps, torch.Tensor) and maps.shape == (1, 48, 64) and maps.device == tiny_estimator.device
    np.testing.assert_array_equal(maps[0].numpy(), tiny_estimator.predict(rgb, 64).relative)
    assert set(timings) == set(STAGES)


def test_naive_and_channels_last_modes_agree_with_the_default(tiny_model_dir, tiny_estimator):
    rgb = textured_rgb(60, 90, seed=5)
    expected = tiny_estimator.predict(rgb, 64).relative
    for options in ({'naive': True}, {'channels_last': True}):
        estimator = load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', **options)
        np.testing.assert_allclose(estimator.predict(rgb, 64).relative, expected, rtol=1e-4, atol=1e-5)


def test_bf16_keeps_the_fourier_block_in_fp32_and_stays_close(tiny_model_dir, tiny_estimator):
    with pytest.warns(RuntimeWarning, match='slow'):
        estimator = load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'bf16')
    assert estimator.dtype == torch.bfloat16
    assert next(estimator.unet.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in estimator.fourier.parameters())
    fourier_io = []
    estimator.fourier.register_forward_hook(lambda m, args, out: fourier_io.append((args[0].dtype, out.dtype)))
    rgb = textured_rgb(40, 48, seed=7)
    half = estimator.predict(rgb, 48).relative
    assert fourier_io == [(torch.bfloat16, torch.bfloat16)]
    assert half.dtype == np.float32
    full = tiny_estimator.predict(rgb, 48).relative
    # bf16 keeps ~3 significant digits; random weights amplify single pixels near the clip limits,
    # so judge the map as a whole: small mean error and near-perfect correlation with fp32.
    assert np.abs(half - full).mean() < 0.01
    assert np.corrcoef(half.ravel(), full.ravel())[0, 1] > 0.99


@pytest.mark.parametrize('bad, field', [
    (np.zeros((10, 10), np.uint8), 'rgb'),
    (np.zeros((10, 10, 4), np.uint8), 'rgb'),
    (np.zeros((10, 10, 3), np.float32), 'rgb'),
    ([[0, 0, 0]], 'rgb'),
])
def test_bad_images_raise_value_error_naming_the_field(tiny_estimator, bad, field):
    with pytest.raises(ValueError, match=field):
        tiny_estimator.predict(bad, 64)


@pytest.mark.parametrize('processing_res', [-1, 1.5, '768', 4])
def test_bad_processing_res_raises_value_error(tiny_estimator, processing_res):
    with pytest.raises(ValueError, match='processing_res'):
        tiny_estimator.predict(textured_rgb(30, 40), processing_res)


def test_mixed_bad_frame_in_batch_is_named(tiny_estimator):
    with pytest.raises(ValueError, match=r'frames\[1\]'):
        tiny_estimator.predict_batch([textured_rgb(30, 40), np.zeros((30, 40), np.uint8)], 64)


def test_default_attention_is_sdpa_and_naive_is_classic(tiny_model_dir, tiny_estimator):
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0
    assert all(isinstance(p, AttnProcessor2_0) for p in tiny_estimator.unet.attn_processors.values())
    naive = load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', naive=True)
    assert all(type(p) is AttnProcessor for p in naive.unet.attn_processors.values())


def test_unknown_compile_mode_is_refused(tiny_model_dir):
    with pytest.raises(ValueError, match='compile'):
        load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', compile='fastest')
