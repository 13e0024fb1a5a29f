"""Device, dtype, host upload and stage timing shared by the estimators.

On CUDA the frame goes through a pinned host buffer with a non-blocking copy, and timings are read
only after synchronising, so a stage's time is its GPU time rather than its launch time.
"""
import time
import warnings

import numpy as np
import torch

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def parse_dtype(name):
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    if name not in DTYPES:
        raise ValueError(f'dtype: expected one of {sorted(DTYPES)}, got {name!r}')
    return DTYPES[name]


def resolve_device(name):
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f'device: {name!r} is not a torch device ({error})') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device: {name!r} requested but CUDA is not available in this torch build/machine')
    if device.type not in ('cpu', 'cuda'):
        raise ValueError(f'device: expected cpu or cuda, got {name!r}')
    return device


def check_cpu_dtype(device, dtype):
    """Half precision on CPU works but is slow; say so once instead of failing."""
    if device.type == 'cpu' and dtype != torch.float32:
        warnings.warn(
            f'dtype {dtype} on CPU is very slow on CPUs without AMX/AVX512-FP16; fp32 is the CPU default',
            RuntimeWarning, stacklevel=3)


def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


class StageTimer:
    """Wall time per named stage, synchronising the device at each boundary."""

    def __init__(self, device):
        self.device = device
        self.timings = {}
        synchronize(device)
        self._last = time.perf_counter()

    def mark(self, stage):
        synchronize(self.device)
        now = time.perf_counter()
        self.timings[stage] = self.timings.get(stage, 0.0) + (now - self._last)
        self._last = now


class HostUploader:
    """uint8 frames -> device tensor [B,H,W,3]; pinned buffer + non-blocking copy on CUDA."""

    def __init__(self, device, pinned=True):
        self.device = device
        self.pinned = pinned and device.type == 'cuda'
        self._buffer = None
        self._copy_done = None

    def upload(self, frames):
        frames = np.ascontiguousarray(frames)
        if not self.pinned:
            return torch.from_numpy(frames).to(self.device)
        if self._copy_done is not None:
            # The previous non-blocking copy may still be reading the buffer.
            self._copy_done.synchronize()
        if self._buffer is None or tuple(self._buffer.shape) != frames.shape:
            self._buffer = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
        self._buffer.numpy()[...] = frames
        on_device = self._buffer.to(self.device, non_blocking=True)
        self._copy_done = torch.cuda.Event()
        self._copy_done.record()
        return on_device
