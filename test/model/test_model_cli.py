"""`make-tiny-model` and `infer` as real subprocesses on real image files."""
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from depthmaster_ros.cli import main


def run_cli(*args, timeout=240):
    environment = dict(os.environ, HF_HUB_OFFLINE='1')
    return subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=environment)


def write_photo(path, height=60, width=80):
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[0:height, 0:width]
    bgr = np.stack([cols * 3 % 256, rows * 4 % 256, 255 - rows * 2 % 256], -1) + rng.normal(0, 10, (height, width, 3))
    assert cv2.imwrite(str(path), np.clip(bgr, 0, 255).astype(np.uint8))
    return path


@pytest.mark.slow
def test_make_tiny_model_writes_the_official_layout(tmp_path):
    result = run_cli('make-tiny-model', tmp_path / 'tiny', '--seed', '3')
    assert result.returncode == 0, result.stderr
    for relative in ('model_index.json', 'unet/config.json', 'unet/diffusion_pytorch_model.safetensors',
                     'vae/config.json', 'text_encoder/config.json', 'tokenizer/vocab.json'):
        assert (tmp_path / 'tiny' / relative).is_file(), relative


@pytest.mark.slow
@pytest.mark.parametrize('suffix, processing_res', [('.png', '0'), ('.jpg', '64')])
def test_infer_writes_the_map_and_a_colour_png(tiny_model_dir, tiny_estimator, tmp_path, suffix, processing_res):
    image = write_photo(tmp_path / f'photo{suffix}')
    output = tmp_path / 'out' / 'depth.npy'
    result = run_cli('infer', image, '--model', tiny_model_dir, '-o', output, '--processing-res', processing_res)
    assert result.returncode == 0, result.stderr
    relative = np.load(output)
    assert relative.shape == (60, 80) and relative.dtype == np.float32
    rgb = cv2.imread(str(image))[..., ::-1].copy()
    np.testing.assert_array_equal(relative, tiny_estimator.predict(rgb, int(processing_res)).relative)
    colour = cv2.imread(str(output.with_suffix('.png')))
    assert colour.shape == (60, 80, 3)
    assert 'sqrt_disparity' in result.stdout
    for stage in ('preprocess', 'vae_encode', 'unet', 'vae_decode', 'postprocess'):
        assert stage in result.stdout


def test_infer_reports_a_broken_model_without_a_traceback(tmp_path, capsys):
    image = write_photo(tmp_path / 'photo.png')
    assert main(['infer', str(image), '--model', str(tmp_path / 'nothing'), '-o', str(tmp_path / 'x.npy')]) == 2
    assert 'nothing' in capsys.readouterr().err
    assert not (tmp_path / 'x.npy').exists()


def test_infer_reports_an_unreadable_image(tiny_model_dir, tmp_path, capsys):
    assert main(['infer', str(tmp_path / 'missing.png'), '--model', str(tiny_model_dir), '-o', str(tmp_path / 'x.npy')]) == 2
    assert 'image' in capsys.readouterr().err
