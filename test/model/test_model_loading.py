"""Loading the official layout, and one clear ModelLoadError per broken-model case."""
import json
import logging
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file, save_file
import torch

from depthmaster_ros.model import ModelLoadError, load_estimator, write_tiny_model

UNET_WEIGHTS = 'unet/diffusion_pytorch_model.safetensors'


def load(directory):
    return load_estimator(backend='depthmaster', model=str(directory), device='cpu', dtype='fp32')


def test_fourier_weights_come_from_the_unet_file(tiny_estimator, tiny_model_dir):
    stored = load_file(str(tiny_model_dir / UNET_WEIGHTS))
    assert any(key.startswith('fftblock.') for key in stored)
    for name, value in tiny_estimator.fourier.state_dict().items():
        assert torch.equal(value, stored['fftblock.' + name])


def test_unused_fourier_weights_warning_is_silenced(tiny_model_dir, caplog):
    with caplog.at_level(logging.WARNING):
        load(tiny_model_dir)
    assert not [record for record in caplog.records if 'were not used' in record.getMessage()]


def test_other_unused_weights_still_warn(model_copy, caplog):
    state = load_file(str(model_copy / UNET_WEIGHTS))
    state['unexpected.weight'] = torch.zeros(2)
    save_file(state, str(model_copy / UNET_WEIGHTS), metadata={'format': 'pt'})
    with caplog.at_level(logging.WARNING):
        load(model_copy)
    assert [record for record in caplog.records if 'unexpected.weight' in record.getMessage()]


def test_bin_weights_give_the_same_prediction(tmp_path, tiny_estimator):
    directory = write_tiny_model(tmp_path / 'bin_model', seed=0, weights_format='bin')
    assert (directory / 'unet' / 'diffusion_pytorch_model.bin').is_file()
    from_bin = load(directory)
    for ours, theirs in ((from_bin.unet, tiny_estimator.unet), (from_bin.vae, tiny_estimator.vae),
                         (from_bin.fourier, tiny_estimator.fourier)):
        reference = theirs.state_dict()
        assert all(torch.equal(value, reference[name]) for name, value in ours.state_dict().items())
    rgb = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    # Identical weights, but safetensors leaves them at other memory alignments than torch.load, and
    # CPU kernels round differently by alignment: equal to float precision, not bit for bit.
    np.testing.assert_allclose(from_bin.predict(rgb, 48).relative, tiny_estimator.predict(rgb, 48).relative,
                               rtol=1e-5, atol=1e-5)


def test_empty_text_embedding_is_bos_eos_last_hidden_state(tiny_estimator, tiny_model_dir):
    from transformers import CLIPTextModel
    encoder = CLIPTextModel.from_pretrained(tiny_model_dir / 'text_encoder')
    vocab = json.loads((tiny_model_dir / 'tokenizer' / 'vocab.json').read_text())
    ids = torch.tensor([[vocab['<|startoftext|>'], vocab['<|endoftext|>']]])
    with torch.no_grad():
        expected = encoder(ids).last_hidden_state
    assert tiny_estimator.empty_text_embedding.shape == (1, 2, 32)
    torch.testing.assert_close(tiny_estimator.empty_text_embedding, expected)


def test_missing_directory(tmp_path):
    missing = tmp_path / 'does' / 'not' / 'exist'
    with pytest.raises(ModelLoadError, match=str(missing)):
        load(missing)


def test_missing_model_index(model_copy):
    (model_copy / 'model_index.json').unlink()
    with pytest.raises(ModelLoadError, match='model_index.json'):
        load(model_copy)


def test_missing_vae_folder(model_copy):
    shutil.rmtree(model_copy / 'vae')
    with pytest.raises(ModelLoadError, match=r'vae.*component folder missing'):
        load(model_copy)


def test_missing_unet_weights(model_copy):
    (model_copy / UNET_WEIGHTS).unlink()
    with pytest.raises(ModelLoadError, match='diffusion_pytorch_model.safetensors: missing'):
        load(model_copy)


def test_corrupt_unet_safetensors(model_copy):
    weights = model_copy / UNET_WEIGHTS
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ModelLoadError, match=r'diffusion_pytorch_model.safetensors: corrupt'):
        load(model_copy)


def test_corrupt_vae_safetensors(model_copy):
    weights = model_copy / 'vae' / 'diffusion_pytorch_model.safetensors'
    weights.write_bytes(b'not a safetensors file')
    with pytest.raises(ModelLoadError, match='vae'):
        load(model_copy)


def test_unet_weights_without_fourier_block(model_copy):
    weights = model_copy / UNET_WEIGHTS
    state = {k: v for k, v in load_file(str(weights)).items() if not k.startswith('fftblock.')}
    save_file(state, str(weights), metadata={'format': 'pt'})
    with pytest.raises(ModelLoadError, match=r'diffusion_pytorch_model.safetensors: contains no fftblock'):
        load(model_copy)


def test_hub_id_offline_is_a_clear_error():
    with pytest.raises(ModelLoadError, match=r'nobody-here/no-such-depth-model.*HF_HUB_OFFLINE'):
        load('nobody-here/no-such-depth-model')


@pytest.mark.parametrize('kwargs, field', [
    ({'backend': 'midas'}, 'backend'),
    ({'dtype': 'fp8'}, 'dtype'),
    ({'device': 'tpu'}, 'device'),
    ({'model': None}, 'model'),
])
def test_bad_options_raise_value_error(tiny_model_dir, kwargs, field):
    options = {'backend': 'depthmaster', 'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32', **kwargs}
    with pytest.raises(ValueError, match=field):
        load_estimator(**options)
