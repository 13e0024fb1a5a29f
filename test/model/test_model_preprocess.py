"""The official resize rule, uint8 rounding and antialiased resize-back."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthmaster_ros.model import decoded_to_unit, normalise, processing_size, resize_back, resize_uint8


@pytest.mark.parametrize('width, height, processing_res, expected', [
    (1226, 370, 768, (767, 231)),   # float truncation: 1226 * (768/1226) = 767.999...
    (640, 480, 768, (768, 576)),    # upscales too
    (1242, 375, 768, (768, 231)),
    (848, 480, 768, (768, 434)),
    (1920, 1080, 768, (768, 432)),
    (1216, 352, 768, (768, 222)),
    (157, 101, 0, (157, 101)),      # 0 = native
    (480, 640, 512, (384, 512)),    # portrait
])
def test_processing_size_rule(width, height, processing_res, expected):
    assert processing_size(width, height, processing_res) == expected


@pytest.mark.parametrize('bad', [-1, 2.0, None, True])
def test_processing_size_rejects_bad_resolution(bad):
    with pytest.raises(ValueError, match='processing_res'):
        processing_size(640, 480, bad)


def random_uint8(height, width, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, 3, height, width), dtype=np.uint8))


def test_resize_rounds_back_to_uint8():
    images = random_uint8(101, 157)
    resized = resize_uint8(images, (61, 96))
    float_result = F.interpolate(images.float(), (61, 96), mode='bilinear', align_corners=False, antialias=True)
    assert resized.dtype == torch.uint8
    assert torch.equal(resized, torch.round(float_result).to(torch.uint8))
    # Truncation instead of rounding, or keeping floats, would both differ here.
    assert not torch.equal(resized, float_result.to(torch.uint8))
    assert not torch.equal(resized.float(), float_result)


def test_resize_is_antialiased_when_shrinking():
    images = random_uint8(100, 100)
    resized = resize_uint8(images, (25, 25)).float()
    plain = torch.round(F.interpolate(images.float(), (25, 25), mode='bilinear', align_corners=False))
    assert (resized - plain).abs().max() > 10


def test_resize_to_the_same_size_is_a_no_op():
    images = random_uint8(20, 30)
    assert resize_uint8(images, (20, 30)) is images


def test_normalise_maps_uint8_to_minus_one_one():
    values = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    out = normalise(values, torch.float32).flatten().tolist()
    assert out == pytest.approx([-1.0, 1.0, 128 / 255 * 2 - 1], abs=1e-6)


def test_decoded_to_unit_takes_the_channel_mean_then_clips():
    decoded = torch.tensor([[-3.0, 0.5], [1.0, 0.5], [-1.0, 0.5]]).view(1, 3, 1, 2)
    # means: -1.0 and 0.5 -> clip -> (x+1)/2 -> 0.0 and 0.75
    assert decoded_to_unit(decoded).flatten().tolist() == pytest.approx([0.0, 0.75])


def test_resize_back_is_antialiased_when_shrinking_and_clipped():
    maps = torch.from_numpy(np.random.default_rng(0).random((1, 1, 64, 64), dtype=np.float32))
    small = resize_back(maps, (16, 16))
    antialiased = F.interpolate(maps, (16, 16), mode='bilinear', align_corners=False, antialias=True)
    aliased = F.interpolate(maps, (16, 16), mode='bilinear', align_corners=False)
    assert torch.equal(small, antialiased)
    assert (small - aliased).abs().max() > 0.1
    stretched = resize_back(maps * 3 - 1, (64, 64))
    assert stretched.min() == 0 and stretched.max() == 1
