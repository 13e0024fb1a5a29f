"""Model directories from elsewhere: links that leave the directory and configuration that asks for code of its
own are refused before any library opens a file; pickles run no code; model_sha256 pins the exact files."""
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from depthmaster_ros.config import Config
from depthmaster_ros.model import ModelLoadError, load_estimator, model_sha256, read_weights, resolve_model_directory
from depthmaster_ros.pipeline import load_configured_estimator


def _edit_json(path, **changes):
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_a_link_that_leaves_the_model_directory_is_refused(model_copy, tmp_path):
    outside = tmp_path / 'elsewhere.json'
    outside.write_text((model_copy / 'unet' / 'config.json').read_text())
    (model_copy / 'unet' / 'config.json').unlink()
    (model_copy / 'unet' / 'config.json').symlink_to(outside)
    with pytest.raises(ModelLoadError, match='outside the model directory') as refused:
        load_estimator(backend='depthmaster', model=str(model_copy), device='cpu', dtype='fp32')
    assert str(model_copy / 'unet' / 'config.json') in str(refused.value)


def test_a_link_that_stays_inside_loads(model_copy):
    weights = model_copy / 'vae' / 'diffusion_pytorch_model.safetensors'
    (model_copy / 'vae_weights.safetensors').write_bytes(weights.read_bytes())
    weights.unlink()
    weights.symlink_to(os.path.relpath(model_copy / 'vae_weights.safetensors', weights.parent))
    assert resolve_model_directory(model_copy) == model_copy
    load_estimator(backend='depthmaster', model=str(model_copy), device='cpu', dtype='fp32')


@pytest.mark.parametrize('where, changes', [
    ('text_encoder/config.json', {'auto_map': {'AutoModel': 'modeling_evil.EvilModel'}}),
    ('unet/config.json', {'trust_remote_code': True}),
    ('model_index.json', {'custom_pipeline': 'evil_pipeline'}),
    ('model_index.json', {'_class_name': ['pipeline_evil', 'EvilPipeline']}),
    ('model_index.json', {'unet': ['evil_module', 'EvilUNet']}),
])
def test_configuration_asking_for_remote_code_is_refused(model_copy, where, changes):
    _edit_json(model_copy / where, **changes)
    with pytest.raises(ModelLoadError, match='asks for code shipped with the model') as refused:
        load_estimator(backend='depthmaster', model=str(model_copy), device='cpu', dtype='fp32')
    assert str(model_copy / where) in str(refused.value)


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_a_pickle_that_runs_code_is_refused_unrun(tmp_path):
    weights, marker = tmp_path / 'pytorch_model.bin', tmp_path / 'code_ran'
    weights.write_bytes(pickle.dumps({'fftblock.weight': _RunsCode(marker)}))
    with pytest.raises(ModelLoadError, match='corrupt or truncated weights file'):
        read_weights(weights)
    assert not marker.exists()
    torch.save({'fftblock.weight': torch.ones(2)}, weights)            # plain tensors load as before
    assert read_weights(weights)['fftblock.weight'].tolist() == [1.0, 1.0]


def _config(model, sha):
    return Config.from_params({'model': str(model), 'device': 'cpu', 'dtype': 'fp32', 'model_sha256': sha}).model


def test_model_sha256_pins_the_files(model_copy):
    pinned = model_sha256(model_copy)
    assert load_configured_estimator(_config(model_copy, pinned.upper())) is not None
    config = model_copy / 'vae' / 'config.json'
    config.write_text(config.read_text().replace('\n', ' \n', 1))         # one byte more, same meaning
    with pytest.raises(ModelLoadError, match=f'not model_sha256 {pinned}'):
        load_configured_estimator(_config(model_copy, pinned))
    with pytest.raises(ModelLoadError, match='64 hexadecimal digits'):
        load_configured_estimator(_config(model_copy, 'abc'))


def test_the_security_command_prints_the_pin(model_copy):
    printed = subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', 'security', 'model-sha256', str(model_copy)],
                             check=True, capture_output=True, text=True).stdout.strip()
    assert printed == model_sha256(model_copy)
