"""Fixtures for tests that need a model (tiny, random weights, written to disk).

torch and diffusers are imported inside the fixtures so that tests which never ask for a model
do not pay for them.
"""
import shutil

import numpy as np
import pytest


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory):
    """A tiny DepthMaster checkpoint in the official layout (written once per session)."""
    from depthmaster_ros.model import write_tiny_model
    return write_tiny_model(tmp_path_factory.mktemp('tiny_depthmaster') / 'model', seed=0)


@pytest.fixture(scope='session')
def tiny_marigold_dir(tmp_path_factory):
    """A tiny Marigold depth checkpoint as saved by diffusers' MarigoldDepthPipeline."""
    from depthmaster_ros.model import write_tiny_marigold
    return write_tiny_marigold(tmp_path_factory.mktemp('tiny_marigold') / 'model', seed=0)


@pytest.fixture(scope='session')
def tiny_estimator(tiny_model_dir):
    """The tiny DepthMaster model loaded through load_estimator (cpu, fp32), shared by the session."""
    from depthmaster_ros.model import load_estimator
    return load_estimator(backend='depthmaster', model=str(tiny_model_dir), device='cpu', dtype='fp32')


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A private copy of the tiny model that a test may damage."""
    target = tmp_path / 'model'
    shutil.copytree(tiny_model_dir, target)
    return target


def textured_rgb(height, width, seed=0):
    """Smooth gradients plus noise: upsampling/downsampling actually changes pixel values."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    base = np.stack([128 + 100 * np.sin(cols / 7.0), 128 + 100 * np.cos(rows / 5.0), (rows * cols) % 256], -1)
    return np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)


def reference_fourier(state, x):
    """The Fourier Enhancement block as the inference notes (section 4) write it, functionally, with the
    block's own tensors (`state`: its state dict): the reference the block and the estimator are checked against."""
    import torch
    import torch.nn.functional as F

    def conv(name, value, padding):
        return F.conv2d(value, state[f'{name}.weight'], state[f'{name}.bias'], padding=padding)

    normed = F.group_norm(x, 8, state['norm.weight'], state['norm.bias'], eps=1e-5)
    pre_fft = F.silu(conv('conv_f1', normed, 1))
    spectrum = torch.fft.rfft2(pre_fft, norm='ortho')
    amplitude = F.silu(conv('conv_f2', torch.abs(spectrum), 1))
    phase = F.silu(conv('conv_f4', torch.angle(spectrum), 1))
    back = torch.fft.irfft2(torch.complex(amplitude * torch.cos(phase), amplitude * torch.sin(phase)),
                            s=x.shape[-2:], norm='ortho')
    frequency = conv('conv_f3', back + pre_fft, 0)
    spatial = conv('conv_s2', F.silu(conv('conv_s1', normed, 1)), 1) + normed
    return conv('fuse', torch.cat([spatial, frequency], dim=1), 0)
