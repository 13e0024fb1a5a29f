"""Official DepthMaster image handling: resize rule, uint8 rounding, normalisation, resize back.

Every detail here changes the output beyond 1e-3 if done differently (see the inference notes):
the longer edge becomes exactly `processing_res` (truncated in float maths), the resized image is
rounded back to uint8, nothing is padded, and the map is resized back with antialiasing.
"""
import torch
import torch.nn.functional as F

from depthmaster_ros.model.sizing import MIN_PROCESSED_SIZE, check_processable, processing_size, validate_rgb  # noqa: F401  (re-exported: the official rules live together)


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a uint8 [B,3,H,W] tensor to (h, w), rounded back to uint8."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    resized = F.interpolate(images.float(), size=size, mode='bilinear', align_corners=False, antialias=True)
    return torch.round(resized).to(torch.uint8)


def normalise(images_uint8: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """uint8 -> [-1, 1] in float32, then the network dtype."""
    return (images_uint8.to(torch.float32) / 255.0 * 2.0 - 1.0).to(dtype)


def decoded_to_unit(decoded: torch.Tensor) -> torch.Tensor:
    """VAE output [B,3,h,w] -> [B,1,h,w] in [0,1]: channel mean, clip to [-1,1], (x+1)/2."""
    mean = decoded.float().mean(dim=1, keepdim=True)
    return (torch.clip(mean, -1.0, 1.0) + 1.0) / 2.0


def resize_back(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Antialiased bilinear resize of a float [B,1,h,w] map to the input (H, W), clipped to [0,1]."""
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps, size=size, mode='bilinear', align_corners=False, antialias=True)
    return torch.clip(maps, 0.0, 1.0)
