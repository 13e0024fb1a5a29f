"""The DepthMaster inference forward as a trainable module: the same maths as the estimator, with gradients.

Frames come already at the processing size (the batches make it), so nothing is resized: normalise,
VAE encoder mean x 0.18215, UNet at timestep 1 with the empty-text embedding, the Fourier
Enhancement block on the mid block, decode, channel mean. The VAE is frozen (no gradient to its
weights, but the gradient flows through its decoder to the UNet). The last clip to [-1, 1] is
straight-through: the values are exactly the estimator's, and a pixel that a randomly initialised
decoder pushes past the clip still tells the UNet which way to move.
"""
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from depthmaster_ros.model import LATENT_SCALE_FACTOR, TIMESTEP, decoded_to_unit, normalise

from .errors import FinetuneError

if TYPE_CHECKING:
    from depthmaster_ros.model import DepthMasterParts


def straight_through_unit(decoded: torch.Tensor) -> torch.Tensor:
    """decoded_to_unit's values [B,1,h,w], with the gradient of the unclipped channel mean."""
    unclipped = (decoded.float().mean(dim=1, keepdim=True) + 1.0) / 2.0
    return unclipped + (decoded_to_unit(decoded) - unclipped).detach()


class TrainableDepthMaster(nn.Module):
    """uint8 frames [B,h,w,3] at the processing size -> unit sqrt-disparity [B,h,w] (1 = near), with gradients.

    `compute_dtype` bf16 (on CUDA) runs the UNet and the decoder under autocast while the weights that
    train stay fp32 (mixed precision: the exported weights lose nothing); the frozen VAE is stored in
    it. fp32 (the CPU) is the estimator's maths exactly. The FE block always computes in fp32.
    """

    def __init__(self, parts: 'DepthMasterParts', compute_dtype: torch.dtype = torch.float32,
                 gradient_checkpointing: bool = False):
        super().__init__()
        # nn.Module.to directly: diffusers' override warns about fp32-kept modules these models lack.
        self.unet = nn.Module.to(parts.unet, dtype=torch.float32)
        self.vae = nn.Module.to(parts.vae, dtype=compute_dtype).eval().requires_grad_(False)
        self.fourier = parts.fourier.float()
        self.dtype = compute_dtype
        self.register_buffer('empty_text_embedding', parts.empty_text_embedding.float(), persistent=False)
        self.register_buffer('timestep', torch.tensor([TIMESTEP], dtype=torch.int64), persistent=False)
        self.unet.mid_block.register_forward_hook(self._apply_fourier)
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()

    def _apply_fourier(self, module: nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        enhanced: torch.Tensor = self.fourier(output)
        return enhanced

    def train(self, mode: bool = True) -> 'TrainableDepthMaster':
        """Train mode for the UNet and the FE block; the frozen VAE stays in eval mode."""
        super().train(mode)
        self.vae.eval()
        return self

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B,h,w,3] -> the scaled latent mean [B,4,h/8,w/8] (no gradient: the encoder is frozen)."""
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[-1] != 3:
            raise FinetuneError(f'images: expected uint8 [B, h, w, 3], got {images.dtype} {tuple(images.shape)}')
        with torch.no_grad():
            pixels = normalise(images.permute(0, 3, 1, 2).contiguous(), self.dtype)
            moments = self.vae.encoder(pixels)
            if self.vae.quant_conv is not None:
                moments = self.vae.quant_conv(moments)
            mean: torch.Tensor = moments[:, :self.vae.config['latent_channels']]
            return mean * LATENT_SCALE_FACTOR

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        mixed = self.dtype != torch.float32
        with torch.autocast(images.device.type, dtype=self.dtype, enabled=mixed):
            return self._forward(images)

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        latent = self.encode(images)
        text = cast(torch.Tensor, self.empty_text_embedding).expand(latent.shape[0], -1, -1)
        timestep = cast(torch.Tensor, self.timestep)
        depth_latent = self.unet(latent, timestep, encoder_hidden_states=text).sample
        post_quant_conv = cast(nn.Module, self.vae.post_quant_conv)
        decoded = self.vae.decoder(post_quant_conv(depth_latent / LATENT_SCALE_FACTOR))
        unit: torch.Tensor = straight_through_unit(decoded)[:, 0]
        return unit

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The parameters that train, by name (what a checkpoint needs besides the base model)."""
        return {name: value.detach().clone() for name, value in self.named_parameters() if value.requires_grad}

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        own = dict(self.named_parameters())
        missing = sorted(name for name, value in own.items() if value.requires_grad and name not in state)
        unknown = sorted(name for name in state if name not in own)
        if missing or unknown:
            raise FinetuneError(f'checkpoint: does not match the model (missing {missing[:3]}, unknown {unknown[:3]}); '
                                'resume with the same --base, --lora-rank and --full')
        with torch.no_grad():
            for name, value in state.items():
                own[name].copy_(value)
