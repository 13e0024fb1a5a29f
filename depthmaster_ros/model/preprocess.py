"""Official DepthMaster image handling: resize rule, uint8 rounding, normalisation, resize back.

Every detail here changes the output beyond 1e-3 if done differently (see the inference notes):
the longer edge becomes exactly `processing_res` (truncated in float maths), the resized image is
rounded back to uint8, nothing is padded, and the map is resized back with antialiasing.
"""
import numpy as np
import torch
import torch.nn.functional as F

# Below this the VAE encoder's three stride-2 convolutions leave nothing to decode.
MIN_PROCESSED_SIZE = 8


def processing_size(width, height, processing_res):
    """(new_w, new_h) whose longer edge is `processing_res` (0 = native), truncated like the official code."""
    if isinstance(processing_res, bool) or not isinstance(processing_res, (int, np.integer)) or processing_res < 0:
        raise ValueError(f'processing_res: expected an integer >= 0 (0 = native), got {processing_res!r}')
    if processing_res == 0:
        return width, height
    factor = min(processing_res / width, processing_res / height)
    return int(width * factor), int(height * factor)


def validate_rgb(rgb, name='rgb'):
    """Reject anything but an (H, W, 3) uint8 array before torch sees it."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f'{name}: expected a numpy array, got {type(rgb).__name__}')
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'{name}: expected shape (H, W, 3), got {rgb.shape}')
    if rgb.dtype != np.uint8:
        raise ValueError(f'{name}: expected dtype uint8, got {rgb.dtype}')
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f'{name}: empty image of shape {rgb.shape}')
    return rgb


def check_processable(width, height, processing_res):
    """The processed size, or ValueError if the network cannot take it."""
    new_w, new_h = processing_size(width, height, processing_res)
    if min(new_w, new_h) < MIN_PROCESSED_SIZE:
        raise ValueError(
            f'processing_res: {width}x{height} at processing_res={processing_res} becomes {new_w}x{new_h}; '
            f'both sides must be at least {MIN_PROCESSED_SIZE} pixels')
    return new_w, new_h


def resize_uint8(images, size):
    """Antialiased bilinear resize of a uint8 [B,3,H,W] tensor to (h, w), rounded back to uint8."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    resized = F.interpolate(images.float(), size=size, mode='bilinear', align_corners=False, antialias=True)
    return torch.round(resized).to(torch.uint8)


def normalise(images_uint8, dtype):
    """uint8 -> [-1, 1] in float32, then the network dtype."""
    return (images_uint8.to(torch.float32) / 255.0 * 2.0 - 1.0).to(dtype)


def decoded_to_unit(decoded):
    """VAE output [B,3,h,w] -> [B,1,h,w] in [0,1]: channel mean, clip to [-1,1], (x+1)/2."""
    mean = decoded.float().mean(dim=1, keepdim=True)
    return (torch.clip(mean, -1.0, 1.0) + 1.0) / 2.0


def resize_back(maps, size):
    """Antialiased bilinear resize of a float [B,1,h,w] map to the input (H, W), clipped to [0,1]."""
    if tuple(maps.shape[-2:]) != tuple(size):
        maps = F.interpolate(maps, size=size, mode='bilinear', align_corners=False, antialias=True)
    return torch.clip(maps, 0.0, 1.0)
