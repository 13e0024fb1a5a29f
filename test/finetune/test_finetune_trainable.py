"""The trainable forward is the estimator's forward; adapters start as the identity and merge back exactly."""
import numpy as np
import pytest
import torch

from depthmaster_ros.finetune import TrainableDepthMaster, adapters, configure_training, trainable
from depthmaster_ros.model import load_depthmaster_parts


@pytest.fixture
def frames():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (2, 48, 64, 3), dtype=np.uint8)


def test_forward_equals_the_estimator_at_the_processing_size(tiny_model_dir, tiny_estimator, frames):
    model = TrainableDepthMaster(load_depthmaster_parts(tiny_model_dir))
    with torch.no_grad():
        ours = model(torch.from_numpy(frames)).numpy()
    theirs = np.stack([p.relative for p in tiny_estimator.predict_batch(list(frames), processing_res=64)])
    assert ours.shape == (2, 48, 64)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize('rank', [4, None])
def test_step_zero_is_the_base_model_and_only_the_chosen_parts_train(tiny_model_dir, frames, rank):
    model = TrainableDepthMaster(load_depthmaster_parts(tiny_model_dir))
    with torch.no_grad():
        before = model(torch.from_numpy(frames))
    count = configure_training(model, rank)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert count == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert not any(name.startswith('vae.') for name in trainable)
    assert any(name.startswith('fourier.') for name in trainable)
    unet_trainable = [name for name in trainable if name.startswith('unet.')]
    if rank is None:
        assert len(unet_trainable) == len(list(model.unet.parameters()))
    else:
        assert unet_trainable and all('lora_' in name for name in unet_trainable)
        assert any('attn' in name for name in unet_trainable) and any('conv1' in name for name in unet_trainable)
    with torch.no_grad():
        np.testing.assert_array_equal(model(torch.from_numpy(frames)).numpy(), before.numpy())


def test_adapters_merge_into_stock_unet_weights(tiny_model_dir, frames):
    model = TrainableDepthMaster(load_depthmaster_parts(tiny_model_dir))
    configure_training(model, 2)
    with torch.no_grad():
        for name, parameter in model.unet.named_parameters():
            if 'lora_B' in name:
                parameter.normal_(0, 0.05)
        adapted = model(torch.from_numpy(frames))
    merged = adapters.merged_unet_state(model.unet)
    assert not any('lora_' in key or 'base_layer' in key for key in merged)
    assert all('lora_' in key for key in adapters.adapter_state(model.unet))
    plain = TrainableDepthMaster(load_depthmaster_parts(tiny_model_dir))
    plain.unet.load_state_dict(merged, strict=True)
    plain.fourier.load_state_dict(model.fourier.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(plain(torch.from_numpy(frames)).numpy(), adapted.numpy(), atol=1e-5)
        # the live model is untouched: the adapters were folded into a copy
        np.testing.assert_array_equal(model(torch.from_numpy(frames)).numpy(), adapted.numpy())


def test_clip_is_straight_through():
    decoded = torch.tensor([-3.0, 0.0, 3.0]).view(1, 1, 1, 3).repeat(1, 3, 1, 1).requires_grad_(True)
    unit = trainable.straight_through_unit(decoded)
    assert unit.flatten().tolist() == [0.0, 0.5, 1.0]
    unit.sum().backward()
    assert torch.all(decoded.grad > 0)
