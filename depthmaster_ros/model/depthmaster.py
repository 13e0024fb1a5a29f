"""The DepthMaster estimator: one deterministic VAE-encode -> UNet(+FE) -> VAE-decode pass.

Weights go to the device once; the empty-text embedding is cached there; pre- and post-processing
run on the device so only the final map is copied back (`predict_tensor` skips even that, and
takes frames already on the device). Nothing in a frame waits for the whole device.
"""
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import torch

from depthmaster_ros.alignment import Space

from .backends import COMPILE_MODES
from .errors import ModelError
from .estimator import DepthEstimator
from .frames import check_frames, stack_frames
from .prediction import Prediction
from .preprocess import decoded_to_unit, normalise, resize_back, resize_uint8
from .runtime import HostUploader, StageTimer, check_cpu_dtype
from .sizing import check_processable

if TYPE_CHECKING:
    # the defining modules: diffusers' top-level names are placeholder classes to a type checker
    from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel

    from .fourier_enhancement import FourierEnhancement
    from .loading import ModelSource

# Hard-coded in the official pipeline (not read from the VAE config).
LATENT_SCALE_FACTOR = 0.18215
# The official UNet call uses timestep 1: a single step, no scheduler, no noise.
TIMESTEP = 1


ModuleT = TypeVar('ModuleT', bound=torch.nn.Module)


def _place(module: ModuleT, device: torch.device, dtype: torch.dtype, memory_format: torch.memory_format) -> ModuleT:
    # nn.Module.to directly: diffusers' override warns about fp32-kept modules that these models lack.
    # It moves the module in place; torch's stubs leave out its memory_format (Tensor.to's is listed).
    torch.nn.Module.to(module, device=device, dtype=dtype, memory_format=memory_format)  # type: ignore[call-overload]
    return module.eval().requires_grad_(False)




def _compile_mode(compile: bool | str) -> str | None:
    """`compile=True` is torch.compile's default mode; a string picks the mode."""
    if compile is True:
        return None
    if compile not in COMPILE_MODES:
        raise ModelError(f'compile: expected a bool or one of {COMPILE_MODES}, got {compile!r}')
    return compile


class DepthMasterEstimator(DepthEstimator):
    """Affine-invariant sqrt-disparity (1 = near) from one RGB frame.

    Options: `channels_last` memory format, `compile` (torch.compile of UNet and VAE halves: True or a
    mode name such as 'reduce-overhead'), `timing` (per-stage timing; off reports only the total), and
    `naive` (the benchmark baseline: fp32, eager, classic attention, no pinned memory,
    post-processing on the host).
    """

    backend = 'depthmaster'
    space = Space.SQRT_DISPARITY

    def __init__(self, unet: 'UNet2DConditionModel', vae: 'AutoencoderKL', fourier: 'FourierEnhancement',
                 empty_text_embedding: torch.Tensor, *, model_id: str, device: str | torch.device,
                 dtype: torch.dtype = torch.float32, channels_last: bool = False, compile: bool | str = False,
                 naive: bool = False, timing: bool = True):
        if naive:
            dtype, channels_last, compile = torch.float32, False, False
        super().__init__(model_id, torch.device(device), dtype, timing)
        check_cpu_dtype(self.device, dtype)
        self.naive = naive
        self.channels_last = channels_last
        memory_format = torch.channels_last if channels_last else torch.preserve_format
        self.unet = _place(unet, self.device, dtype, memory_format)
        self.vae = _place(vae, self.device, dtype, memory_format)
        # The FE block stays fp32 whatever the network dtype (cuFFT half needs power-of-two sizes).
        self.fourier = _place(fourier, self.device, torch.float32, torch.preserve_format)
        self.empty_text_embedding = empty_text_embedding.to(device=self.device, dtype=dtype)
        self._timestep = torch.tensor([TIMESTEP], dtype=torch.int64, device=self.device)
        self._fourier_hook = self.unet.mid_block.register_forward_hook(self._apply_fourier)
        self._uploader = HostUploader(self.device, pinned=not naive)
        if naive:
            from diffusers.models.attention_processor import AttnProcessor
            self.unet.set_attn_processor(AttnProcessor())
            self.vae.set_attn_processor(AttnProcessor())
        self.set_compile(compile)

    def set_compile(self, compile: bool | str) -> None:
        """Eager (False or 'off') or torch.compile'd VAE encoder, UNet and VAE decoder (True or a mode name).

        Static shapes (dynamic=False): each (batch, processing size) gets its own graph, and under
        'reduce-overhead' its own CUDA graph, compiled on its first frame; `warm_up` does that at
        start. Switching back to eager keeps the weights where they are.
        """
        if compile == 'off':             # the node parameter's name for eager
            compile = False
        self.compile = compile
        self._encoder: Callable[..., Any] = self.vae.encoder
        self._unet_call: Callable[..., Any] = self.unet
        self._decoder: Callable[..., Any] = self.vae.decoder
        if compile:
            mode = _compile_mode(compile)
            self._encoder = torch.compile(self._encoder, mode=mode, dynamic=False)
            self._unet_call = torch.compile(self._unet_call, mode=mode, dynamic=False)
            self._decoder = torch.compile(self._decoder, mode=mode, dynamic=False)

    def _apply_fourier(self, module: torch.nn.Module, inputs: object, output: torch.Tensor) -> torch.Tensor:
        enhanced: torch.Tensor = self.fourier(output)
        return enhanced

    def _grad_mode(self) -> AbstractContextManager[None]:
        return torch.no_grad() if self.naive else torch.inference_mode()

    def predict_tensor(self, frames: np.ndarray | torch.Tensor, processing_res: int = 768,
                       timing: bool | None = None) -> tuple[torch.Tensor, StageTimer]:
        """Same-size uint8 frames [B,H,W,3] -> (device float32 [B,H,W] in [0,1], timings).

        `frames` is a host numpy array (uploaded through the pinned buffer) or a tensor already on
        the estimator's device, used as is: a caller that uploads it on a side stream makes the
        current stream wait for that copy first. The device tensor lets a GPU post-processing stage
        continue without a host round trip; the timings are read from the device only when first
        looked at, so this call itself never waits for the GPU.
        """
        check_frames(frames, self.device, name='frames', batched=True)
        timer = StageTimer(self.device, per_stage=self._per_stage(timing))
        maps = self._forward(frames, processing_res, timer)
        return maps, timer.finish('postprocess')

    def _forward(self, frames: np.ndarray | torch.Tensor, processing_res: int, timer: StageTimer) -> torch.Tensor:
        """Every stage up to the device maps; the caller closes 'postprocess' (it may add a copy back)."""
        height, width = frames.shape[1:3]
        new_w, new_h = check_processable(width, height, processing_res)
        with self._grad_mode():
            images = frames if isinstance(frames, torch.Tensor) else self._uploader.upload(frames)
            images = images.permute(0, 3, 1, 2).contiguous()
            images = normalise(resize_uint8(images, (new_h, new_w)), self.dtype)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            timer.mark('preprocess')

            latent = self._encode(images)
            timer.mark('vae_encode')

            text = self.empty_text_embedding.expand(latent.shape[0], -1, -1)
            depth_latent = self._unet_call(latent, self._timestep, encoder_hidden_states=text).sample
            timer.mark('unet')

            post_quant_conv = cast(torch.nn.Module, self.vae.post_quant_conv)    # DepthMaster's VAE has one
            decoded = self._decoder(post_quant_conv(depth_latent / LATENT_SCALE_FACTOR))
            timer.mark('vae_decode')

            unit = decoded_to_unit(decoded)
            if self.naive:
                unit = unit.cpu()
            return resize_back(unit, (height, width))[:, 0]

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        moments = self._encoder(images)
        if self.vae.quant_conv is not None:
            moments = self.vae.quant_conv(moments)
        mean: torch.Tensor = moments[:, :self.vae.config['latent_channels']]
        return mean * LATENT_SCALE_FACTOR

    def _predict_same_size(self, frames: Sequence[np.ndarray | torch.Tensor], processing_res: int,
                           per_stage: bool | None = None) -> list[Prediction]:
        timer = StageTimer(self.device, per_stage=self._per_stage(per_stage))
        same_kind = cast('Sequence[np.ndarray] | Sequence[torch.Tensor]', frames)   # predict_batch groups by kind
        maps = self._forward(stack_frames(same_kind), processing_res, timer)
        # The copy back is the frame's one wait for the device; the timings are read after it.
        host = maps.cpu().numpy().astype(np.float32, copy=False)
        timings = dict(timer.finish('postprocess'))
        return [Prediction(relative=host[i], space=self.space, timings=dict(timings)) for i in range(len(frames))]


def load_depthmaster(model: 'ModelSource', device: str | torch.device, dtype: torch.dtype, *, channels_last: bool = False,
                     compile: bool | str = False, naive: bool = False, timing: bool = True) -> DepthMasterEstimator:
    """The depthmaster backend's loader: official-layout weights once onto device (naive: eager fp32 baseline)."""
    from .loading import load_depthmaster_parts
    parts = load_depthmaster_parts(model, torch.float32 if naive else dtype)
    return DepthMasterEstimator(parts.unet, parts.vae, parts.fourier, parts.empty_text_embedding,
                                model_id=str(model), device=device, dtype=dtype,
                                channels_last=channels_last, compile=compile, naive=naive, timing=timing)
