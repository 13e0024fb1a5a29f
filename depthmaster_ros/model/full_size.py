"""A random-weight estimator with the real DepthMaster architecture, for benchmarks (no download).

Runtime does not depend on weight values, so this has the real FLOPs and memory of the released model.
"""
from typing import Any

import torch

from .depthmaster import DepthMasterEstimator
from .fourier_enhancement import FourierEnhancement

SD2_UNET_CONFIG: dict[str, Any] = dict(
    sample_size=96, in_channels=4, out_channels=4, layers_per_block=2,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=('CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'),
    up_block_types=('UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'),
    cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
    norm_num_groups=32, norm_eps=1e-5, flip_sin_to_cos=True, freq_shift=0, act_fn='silu')

SD2_VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
    block_out_channels=(128, 256, 512, 512), sample_size=768, scaling_factor=0.18215,
    down_block_types=('DownEncoderBlock2D',) * 4, up_block_types=('UpDecoderBlock2D',) * 4)

SD2_TEXT_HIDDEN = 1024


def build_full_size(device: str | torch.device = 'cpu', dtype: torch.dtype = torch.float32, seed: int = 0,
                    **options: Any) -> DepthMasterEstimator:
    """DepthMasterEstimator with SD2 UNet + FE(1280) + SD2 VAE, random weights and a random [1,2,1024] text embedding.

    `options` go to DepthMasterEstimator (channels_last, compile, naive, timing).
    """
    from diffusers import AutoencoderKL, UNet2DConditionModel
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**SD2_UNET_CONFIG)
    fourier = FourierEnhancement(SD2_UNET_CONFIG['block_out_channels'][-1])
    vae = AutoencoderKL(**SD2_VAE_CONFIG)
    embedding = torch.randn(1, 2, SD2_TEXT_HIDDEN)
    # ignored: to a type checker diffusers' top-level names are its placeholder classes, not the models
    return DepthMasterEstimator(unet, vae, fourier, embedding, model_id='random-full-size',  # type: ignore[arg-type]
                                device=device, dtype=dtype, **options)
