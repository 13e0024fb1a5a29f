"""What trains: LoRA adapters (peft) on the UNet's attention and convolutions, or the whole UNet (`--full`).

The FE block always trains (it is small and specific to DepthMaster); the VAE and the text encoder
never do. Adapters start as the identity (peft's zero-initialised B), so step 0 is the base model.
`lora_alpha` equals the rank: an adapter's update has the same size whatever the rank.
"""
from typing import TYPE_CHECKING, Any

import torch

from .errors import FinetuneError

if TYPE_CHECKING:
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    from .trainable import TrainableDepthMaster

# Module-name suffixes in diffusers' UNet: attention projections and feed-forward, transformer
# in/out projections, resnet convolutions and shortcuts, and the down/up sampling convolutions.
LORA_TARGETS = ('to_q', 'to_k', 'to_v', 'to_out.0', 'proj_in', 'proj_out', 'ff.net.0.proj', 'ff.net.2',
                'conv1', 'conv2', 'conv_shortcut', 'downsamplers.0.conv', 'upsamplers.0.conv')


def lora_config(rank: int) -> Any:
    """The peft LoraConfig of an adapter of `rank` on LORA_TARGETS."""
    from peft import LoraConfig
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise FinetuneError(f'--lora-rank: expected a positive integer, got {rank!r}')
    return LoraConfig(r=rank, lora_alpha=rank, lora_dropout=0.0, target_modules=list(LORA_TARGETS),
                      init_lora_weights=True)


def add_lora(unet: 'UNet2DConditionModel', rank: int) -> None:
    """Inject the adapters into the UNet in place; only they train there."""
    from peft import inject_adapter_in_model
    unet.requires_grad_(False)
    inject_adapter_in_model(lora_config(rank), unet)
    for name, parameter in unet.named_parameters():
        parameter.requires_grad_('lora_' in name)


def configure_training(model: 'TrainableDepthMaster', lora_rank: int | None) -> int:
    """Adapters of `lora_rank` (None: the whole UNet trains) and the FE block; returns the trainable count."""
    model.vae.requires_grad_(False)
    if lora_rank is None:
        model.unet.requires_grad_(True)
    else:
        add_lora(model.unet, lora_rank)
    model.fourier.requires_grad_(True)
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def adapter_state(unet: 'UNet2DConditionModel') -> dict[str, torch.Tensor]:
    """The adapters' tensors alone, keyed as peft saves them."""
    from peft import get_peft_model_state_dict
    state: dict[str, torch.Tensor] = get_peft_model_state_dict(unet)
    return {key: value.detach().cpu().contiguous() for key, value in state.items()}


def merged_unet_state(unet: 'UNet2DConditionModel') -> dict[str, torch.Tensor]:
    """The stock UNet's state dict with the adapters folded into the weights; the UNet itself is not touched."""
    from peft.tuners.lora import LoraLayer
    deltas: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, module in unet.named_modules():
            if isinstance(module, LoraLayer):
                # each concrete LoRA layer (Linear, Conv2d) defines get_delta_weight; the base class does not
                layer: Any = module
                for adapter in module.active_adapters:
                    delta: torch.Tensor = layer.get_delta_weight(adapter)
                    key = f'{name}.weight'
                    deltas[key] = deltas[key] + delta if key in deltas else delta
        state = {}
        for key, value in unet.state_dict().items():
            if 'lora_' in key:
                continue
            key = key.replace('.base_layer.', '.')
            merged = value + deltas[key].to(value.dtype) if key in deltas else value
            state[key] = merged.detach().cpu().clone().contiguous()
    return state
