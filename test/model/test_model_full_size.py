"""The benchmark's random full-size model has the released architecture (counted on the meta device)."""
import torch

from depthmaster_ros.model import SD2_UNET_CONFIG, SD2_VAE_CONFIG, FourierEnhancement


def count(module):
    return sum(parameter.numel() for parameter in module.parameters())


def test_unet_and_fourier_parameter_counts_match_the_official_model():
    from diffusers import UNet2DConditionModel
    with torch.device('meta'):
        unet = UNet2DConditionModel(**SD2_UNET_CONFIG)
        fourier = FourierEnhancement(SD2_UNET_CONFIG['block_out_channels'][-1])
    assert count(unet) == 865_910_724            # stock SD2 UNet
    assert count(unet) + count(fourier) == 944_565_444


def test_vae_is_the_sd2_autoencoder():
    from diffusers import AutoencoderKL
    with torch.device('meta'):
        vae = AutoencoderKL(**SD2_VAE_CONFIG)
    assert count(vae) == 83_653_863
    assert vae.config.scaling_factor == 0.18215 and tuple(vae.config.block_out_channels) == (128, 256, 512, 512)
