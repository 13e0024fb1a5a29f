"""Tiny random-weight checkpoints in the official layouts, for tests and demos (no download).

Each component is saved with its library's own `save_pretrained`, so the loaders read exactly what
they would read from the hub; the DepthMaster UNet file additionally carries ``fftblock.*`` tensors,
as the official checkpoint does.
"""
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from .errors import ModelError
from .fourier_enhancement import FourierEnhancement
from .loading import FFT_PREFIX, find_weights_file
from .provenance import write_random_weights_note

if TYPE_CHECKING:
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

TINY_TEXT_HIDDEN = 32
BOS, EOS = '<|startoftext|>', '<|endoftext|>'
# A few merges so the tokenizer is a working BPE, not just two special tokens.
_MERGES = (('t', 'h'), ('th', 'e</w>'), ('o', 'n</w>'), ('i', 'n'), ('in', 'g</w>'))


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-level alphabet: each byte maps to one printable unicode character."""
    printable = [*range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1), *range(ord('®'), ord('ÿ') + 1)]
    shifted: dict[int, str] = {}
    extra = 0
    for byte in range(256):
        if byte in printable:
            shifted[byte] = chr(byte)
        else:
            shifted[byte] = chr(256 + extra)
            extra += 1
    return [shifted[byte] for byte in range(256)]


def tiny_clip_vocabulary() -> tuple[dict[str, int], list[str]]:
    """(vocab, merges) in CLIP's format: byte symbols, their end-of-word forms, merges, then BOS/EOS last."""
    symbols = _byte_alphabet()
    tokens = symbols + [symbol + '</w>' for symbol in symbols] + [''.join(pair) for pair in _MERGES]
    tokens += [BOS, EOS]
    return {token: index for index, token in enumerate(tokens)}, [' '.join(pair) for pair in _MERGES]


def write_tiny_tokenizer(folder: str | os.PathLike[str]) -> tuple[int, int, int]:
    """vocab.json + merges.txt + tokenizer_config.json, as the SD2 tokenizer folder holds them."""
    from transformers import CLIPTokenizer
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab, merges = tiny_clip_vocabulary()
    (folder / 'vocab.json').write_text(json.dumps(vocab, ensure_ascii=False))
    (folder / 'merges.txt').write_text('#version: 0.2\n' + '\n'.join(merges) + '\n')
    # ignored: transformers annotates merges as list[str]; the tokenizers BPE model under it takes pairs
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[tuple(merge.split()) for merge in merges],  # type: ignore[misc]
                              model_max_length=77)
    tokenizer.save_pretrained(folder)
    return len(vocab), vocab[BOS], vocab[EOS]


def _write_text_encoder(folder: Path, vocab_size: int, bos_id: int, eos_id: int) -> None:
    from transformers import CLIPTextConfig, CLIPTextModel
    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=TINY_TEXT_HIDDEN, intermediate_size=64,
                            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=77,
                            projection_dim=TINY_TEXT_HIDDEN, hidden_act='gelu', bos_token_id=bos_id,
                            eos_token_id=eos_id, pad_token_id=eos_id)
    CLIPTextModel(config).save_pretrained(folder)


def _tiny_vae() -> 'AutoencoderKL':
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    vae: AutoencoderKL = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=8,
        block_out_channels=(8, 16, 16, 16), sample_size=64,
        down_block_types=('DownEncoderBlock2D',) * 4, up_block_types=('UpDecoderBlock2D',) * 4)
    return vae


def _tiny_unet(in_channels: int) -> 'UNet2DConditionModel':
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
    unet: UNet2DConditionModel = UNet2DConditionModel(
        sample_size=8, in_channels=in_channels, out_channels=4, layers_per_block=2,
        # Attention only at the coarser level: full-latent-resolution attention would make the
        # "tiny" model cost seconds per frame at 768 while testing nothing more.
        block_out_channels=(32, 64), down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'),
        up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'), cross_attention_dim=TINY_TEXT_HIDDEN,
        attention_head_dim=(2, 4), use_linear_projection=True, norm_num_groups=16)
    return unet


def _write_shared_parts(directory: str | os.PathLike[str], seed: int) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    vocab_size, bos_id, eos_id = write_tiny_tokenizer(directory / 'tokenizer')
    _write_text_encoder(directory / 'text_encoder', vocab_size, bos_id, eos_id)
    _tiny_vae().save_pretrained(directory / 'vae')
    write_random_weights_note(directory)
    return directory


def add_fourier_tensors(weights_file: Path, fourier: FourierEnhancement) -> None:
    """Append fftblock.* to the saved UNet weights, as the official training code's state dict has them."""
    extra = {FFT_PREFIX + key: value.contiguous() for key, value in fourier.state_dict().items()}
    if weights_file.suffix == '.safetensors':
        from safetensors.torch import load_file, save_file
        state = load_file(str(weights_file))
        state.update(extra)
        save_file(state, str(weights_file), metadata={'format': 'pt'})
    else:
        state = torch.load(weights_file, map_location='cpu', weights_only=True)
        state.update(extra)
        torch.save(state, weights_file)


def write_tiny_model(directory: str | os.PathLike[str], seed: int = 0, weights_format: str = 'safetensors') -> Path:
    """A random DepthMaster checkpoint in the official layout; returns the directory."""
    if weights_format not in ('safetensors', 'bin'):
        raise ModelError(f"weights_format: expected 'safetensors' or 'bin', got {weights_format!r}")
    directory = _write_shared_parts(directory, seed)
    unet = _tiny_unet(in_channels=4)
    unet.save_pretrained(directory / 'unet', safe_serialization=weights_format == 'safetensors')
    fourier = FourierEnhancement(unet.config['block_out_channels'][-1])
    add_fourier_tensors(find_weights_file(directory / 'unet'), fourier)
    index = {
        '_class_name': 'DepthMasterPipeline', '_diffusers_version': '0.29.0',
        'unet': ['diffusers', 'UNet2DConditionModel'], 'vae': ['diffusers', 'AutoencoderKL'],
        'text_encoder': ['transformers', 'CLIPTextModel'], 'tokenizer': ['transformers', 'CLIPTokenizer'],
        'scale_invariant': True, 'shift_invariant': True, 'default_processing_resolution': 768,
    }
    (directory / 'model_index.json').write_text(json.dumps(index, indent=2) + '\n')
    return directory


def write_tiny_marigold(directory: str | os.PathLike[str], seed: int = 0) -> Path:
    """A random Marigold depth checkpoint saved by diffusers' MarigoldDepthPipeline; returns the directory."""
    from diffusers import DDIMScheduler, MarigoldDepthPipeline
    from transformers import CLIPTextModel, CLIPTokenizer
    directory = _write_shared_parts(directory, seed)
    scheduler = DDIMScheduler(beta_schedule='scaled_linear', beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, prediction_type='v_prediction',
                              timestep_spacing='trailing')
    pipeline = MarigoldDepthPipeline(
        unet=_tiny_unet(in_channels=8), vae=_tiny_vae_from(directory), scheduler=scheduler,
        text_encoder=CLIPTextModel.from_pretrained(directory / 'text_encoder'),
        tokenizer=CLIPTokenizer.from_pretrained(directory / 'tokenizer'),
        prediction_type='depth', scale_invariant=True, shift_invariant=True,
        default_denoising_steps=4, default_processing_resolution=768)
    # to a type checker diffusers' top-level names are its placeholder classes, without the pipeline's methods
    pipeline.save_pretrained(directory)  # type: ignore[attr-defined]
    return directory


def _tiny_vae_from(directory: Path) -> 'AutoencoderKL':
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    vae: AutoencoderKL = AutoencoderKL.from_pretrained(directory / 'vae')
    return vae
