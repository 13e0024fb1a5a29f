"""DepthMaster's Fourier Enhancement block, applied once to the UNet mid-block output.

Parameter names and shapes follow the official checkpoint's ``fftblock.*`` keys so its tensors load
with the prefix stripped. The block always computes in fp32: cuFFT in half precision only accepts
power-of-two sizes, and mid-block maps such as 12x9 are not.
"""
import torch
from torch import nn
import torch.nn.functional as F

from .errors import ModelError

GROUP_NORM_GROUPS = 8
GROUP_NORM_EPS = 1e-5


def _conv3x3(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)


def _conv1x1(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1)


def _conv_fp32(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    # `.float()` is free for fp32 parameters and keeps the maths fp32 if someone cast the module.
    bias = None if conv.bias is None else conv.bias.float()
    return F.conv2d(x, conv.weight.float(), bias, conv.stride, conv.padding)


class FourierEnhancement(nn.Module):
    """Spatial branch + frequency branch (learned convs on FFT amplitude and phase), fused 1x1."""

    def __init__(self, channels: int = 1280):
        super().__init__()
        if channels % GROUP_NORM_GROUPS:
            raise ModelError(f'channels: {channels} is not divisible by {GROUP_NORM_GROUPS} (GroupNorm groups)')
        self.channels = channels
        self.norm = nn.GroupNorm(GROUP_NORM_GROUPS, channels, eps=GROUP_NORM_EPS, affine=True)
        self.conv_f1 = _conv3x3(channels)
        self.conv_f2 = _conv3x3(channels)
        self.conv_f4 = _conv3x3(channels)
        self.conv_f3 = _conv1x1(channels, channels)
        self.conv_s1 = _conv3x3(channels)
        self.conv_s2 = _conv3x3(channels)
        self.fuse = _conv1x1(2 * channels, channels)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            out: torch.Tensor = self._forward_fp32(hidden.float())
        return out.to(hidden.dtype)

    # Eager even inside a torch.compile'd UNet: inductor has no codegen for complex tensors, and the
    # block runs once per frame on a map of about 12x9.
    @torch.compiler.disable  # type: ignore[untyped-decorator]   # torch leaves this decorator unannotated
    def _forward_fp32(self, x: torch.Tensor) -> torch.Tensor:
        normed = F.group_norm(x, GROUP_NORM_GROUPS, self.norm.weight.float(), self.norm.bias.float(), self.norm.eps)
        height, width = normed.shape[-2:]

        activation = F.silu(_conv_fp32(self.conv_f1, normed))
        spectrum = torch.fft.rfft2(activation, norm='ortho')
        magnitude = F.silu(_conv_fp32(self.conv_f2, spectrum.abs()))
        phase = F.silu(_conv_fp32(self.conv_f4, spectrum.angle()))
        recombined = torch.complex(magnitude * torch.cos(phase), magnitude * torch.sin(phase))
        frequency = _conv_fp32(self.conv_f3, torch.fft.irfft2(recombined, s=(height, width), norm='ortho') + activation)

        spatial = _conv_fp32(self.conv_s2, F.silu(_conv_fp32(self.conv_s1, normed))) + normed
        # Channel order matters for the fuse weights: spatial first, frequency second.
        return _conv_fp32(self.fuse, torch.cat([spatial, frequency], dim=1))
