"""The run's products: merged weights in the official layout, and the adapter alone.

`model/` is the base model's directory with the UNet replaced: the adapters folded into the stock
UNet's weights, saved by diffusers, plus the trained FE block as `fftblock.*` tensors in the same
file, exactly as the official checkpoint carries it; so `--model DIR` (node, `bag`, `batch`,
`infer`, `evaluate`) loads it like the official weights. `adapter/` holds the LoRA tensors as peft
saves them (adapter_config.json, adapter_model.safetensors) and the FE block (fourier.safetensors):
a few megabytes to keep per fleet next to one base model. Both are written to a temporary name and
renamed, so a folder that exists is complete.
"""
import os
from pathlib import Path
import shutil
from typing import TYPE_CHECKING

from depthmaster_ros.model import FFT_PREFIX, add_fourier_tensors, find_weights_file, resolve_model_directory

from .adapters import adapter_state, lora_config, merged_unet_state

if TYPE_CHECKING:
    from .trainable import TrainableDepthMaster

MODEL_FOLDER = 'model'
ADAPTER_FOLDER = 'adapter'


def _replace(partial: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target


def export_model(model: 'TrainableDepthMaster', base: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write `out/model`: the base's folders with the merged UNet and the trained FE block; returns it."""
    from diffusers import UNet2DConditionModel
    source = resolve_model_directory(base)
    target = Path(out) / MODEL_FOLDER
    partial = Path(out) / f'.{MODEL_FOLDER}.partial'
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial, ignore=lambda folder, names: [
        name for name in names if name.startswith('.') or (Path(folder) == source and name == 'unet')])
    unet = UNet2DConditionModel.from_config(model.unet.config)
    unet.load_state_dict({key: value.float() for key, value in merged_unet_state(model.unet).items()}, strict=True)
    unet.save_pretrained(partial / 'unet', safe_serialization=True)
    add_fourier_tensors(find_weights_file(partial / 'unet'), model.fourier)
    return _replace(partial, target)


def export_adapter(model: 'TrainableDepthMaster', rank: int, out: str | os.PathLike[str]) -> Path:
    """Write `out/adapter`: the LoRA tensors with their peft config, and the FE block; returns it."""
    from safetensors.torch import save_file
    target = Path(out) / ADAPTER_FOLDER
    partial = Path(out) / f'.{ADAPTER_FOLDER}.partial'
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    lora_config(rank).save_pretrained(str(partial))
    save_file(adapter_state(model.unet), str(partial / 'adapter_model.safetensors'))
    fourier = {FFT_PREFIX + key: value.detach().float().cpu().contiguous()
               for key, value in model.fourier.state_dict().items()}
    save_file(fourier, str(partial / 'fourier.safetensors'))
    return _replace(partial, target)
