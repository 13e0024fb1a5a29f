"""The Fourier Enhancement block: official parameter table, the documented maths, fp32 under half."""
import numpy as np
import pytest
import torch
from torch.overrides import TorchFunctionMode

from depthmaster_ros.model import FourierEnhancement

from fixtures_model import reference_fourier

# The official checkpoint's fftblock.* table (prefix stripped), for 1280 channels.
OFFICIAL_SHAPES = {
    'norm.weight': (1280,), 'norm.bias': (1280,),
    'conv_f1.weight': (1280, 1280, 3, 3), 'conv_f1.bias': (1280,),
    'conv_f2.weight': (1280, 1280, 3, 3), 'conv_f2.bias': (1280,),
    'conv_f4.weight': (1280, 1280, 3, 3), 'conv_f4.bias': (1280,),
    'conv_f3.weight': (1280, 1280, 1, 1), 'conv_f3.bias': (1280,),
    'conv_s1.weight': (1280, 1280, 3, 3), 'conv_s1.bias': (1280,),
    'conv_s2.weight': (1280, 1280, 3, 3), 'conv_s2.bias': (1280,),
    'fuse.weight': (1280, 2560, 1, 1), 'fuse.bias': (1280,),
}


def test_parameter_names_and_shapes_match_the_official_checkpoint():
    with torch.device('meta'):
        block = FourierEnhancement(1280)
    shapes = {name: tuple(tensor.shape) for name, tensor in block.state_dict().items()}
    assert shapes == OFFICIAL_SHAPES
    assert sum(tensor.numel() for tensor in block.parameters()) == 78_654_720


def test_group_norm_is_eight_groups():
    block = FourierEnhancement(64)
    assert block.norm.num_groups == 8 and block.norm.eps == 1e-5


def test_channels_not_divisible_by_groups_is_rejected():
    with pytest.raises(ValueError, match='channels'):
        FourierEnhancement(12)


@pytest.mark.parametrize('size', [(12, 9), (7, 12), (1, 2), (4, 4)])
def test_block_equals_the_documented_computation(size):
    torch.manual_seed(1)
    block = FourierEnhancement(16)
    with torch.no_grad():
        for parameter in block.parameters():  # non-trivial norm affine too
            parameter.normal_(0, 0.3)
        x = torch.randn(2, 16, *size)
        ours = block(x)
        expected = reference_fourier(block.state_dict(), x)
    assert ours.shape == x.shape
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


class RecordFFTDtypes(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.seen = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, '__module__', '') == 'torch._C._fft' or 'fft' in getattr(func, '__name__', ''):
            self.seen.append((func.__name__, args[0].dtype))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('half', [torch.bfloat16, torch.float16])
def test_half_input_runs_the_fft_in_fp32_and_returns_the_input_dtype(half):
    torch.manual_seed(2)
    block = FourierEnhancement(16)
    x = torch.randn(1, 16, 6, 5)
    with torch.no_grad():
        expected = block(x)
        with RecordFFTDtypes() as recorder:
            out = block(x.to(half))
    assert out.dtype == half
    assert [name for name, _ in recorder.seen] == ['fft_rfft2', 'fft_irfft2']
    assert recorder.seen[0][1] == torch.float32 and recorder.seen[1][1] == torch.complex64
    np.testing.assert_allclose(out.float().numpy(), expected.numpy(), atol=0.05 * float(expected.abs().max()))


def test_half_weights_still_compute_in_fp32():
    block = FourierEnhancement(16).to(torch.bfloat16)
    with torch.no_grad(), RecordFFTDtypes() as recorder:
        out = block(torch.randn(1, 16, 4, 3, dtype=torch.bfloat16))
    assert out.dtype == torch.bfloat16
    assert recorder.seen[0][1] == torch.float32
