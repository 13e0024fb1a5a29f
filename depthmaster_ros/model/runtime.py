"""Device, dtype, host upload and stage timing shared by the estimators.

On CUDA the frame goes through a pinned host buffer with a non-blocking copy. Stage boundaries are
CUDA events on the current stream, read once the frame's last event has completed: a stage's time
is its GPU time, and nothing waits for the whole device (which would also wait for a next frame's
upload on a side stream).
"""
from collections.abc import Iterator, Mapping
import time
from typing import cast
import warnings

import numpy as np
import torch

from .errors import ModelError, ModelStateError
from .prediction import TOTAL

# A point in a device's own order: perf_counter seconds on the CPU, a CUDA event on CUDA.
Stamp = float | torch.cuda.Event

DTYPES = {'fp32': torch.float32, 'fp16': torch.float16, 'bf16': torch.bfloat16}


def parse_dtype(name: str | torch.dtype) -> torch.dtype:
    if isinstance(name, torch.dtype) and name in DTYPES.values():
        return name
    if name not in DTYPES:
        raise ModelError(f'dtype: expected one of {sorted(DTYPES)}, got {name!r}')
    return DTYPES[name]


def resolve_device(name: str | torch.device) -> torch.device:
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ModelError(f'device: {name!r} is not a torch device ({error})') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise ModelError(f'device: {name!r} requested but CUDA is not available in this torch build/machine')
    if device.type not in ('cpu', 'cuda'):
        raise ModelError(f'device: expected cpu or cuda, got {name!r}')
    return device


def check_timing(timing: object) -> bool:
    """Per-stage timing is on or off; anything else is a caller's mistake, not a falsy default."""
    if not isinstance(timing, bool):
        raise ModelError(f'timing: expected True or False, got {timing!r}')
    return timing


def check_cpu_dtype(device: torch.device, dtype: torch.dtype) -> None:
    """Half precision on CPU works but is slow; say so once instead of failing."""
    if device.type == 'cpu' and dtype != torch.float32:
        warnings.warn(
            f'dtype {dtype} on CPU is very slow on CPUs without AMX/AVX512-FP16; fp32 is the CPU default',
            RuntimeWarning, stacklevel=3)


class DeviceClock:
    """Timestamps in the device's own order: perf_counter on the CPU, timing events on the current CUDA stream."""

    def __init__(self, device: torch.device):
        self.device = device
        self.cuda = device.type == 'cuda'

    def stamp(self) -> Stamp:
        if not self.cuda:
            return time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record(torch.cuda.current_stream(self.device))
        return event

    def wait(self, stamp: Stamp) -> None:
        """Until the work before `stamp` on its stream is done; other streams keep running."""
        if self.cuda:
            cast(torch.cuda.Event, stamp).synchronize()

    def seconds(self, start: Stamp, end: Stamp) -> float:
        """Elapsed seconds between two stamps whose work has completed (see `wait`)."""
        if self.cuda:       # a CUDA clock's stamps are events, a CPU clock's are floats
            milliseconds: float = cast(torch.cuda.Event, start).elapsed_time(cast(torch.cuda.Event, end))
            return milliseconds / 1e3
        return cast(float, end) - cast(float, start)


class StageTimer(Mapping[str, float]):
    """One frame's stage times, read as the mapping {stage: seconds} (or {'total': seconds}).

    `mark(stage)` closes a stage (marks of one stage add up); `finish(stage)` closes the last one.
    With `per_stage=False` only the first and the final stamp are taken. Reading the mapping the
    first time waits for the final stamp, so a caller that keeps the result on the device decides
    when that one wait happens (usually when it copies its own result back).
    """

    def __init__(self, device: torch.device, per_stage: bool = True):
        self._clock = DeviceClock(device)
        self.per_stage = per_stage
        self._stamps: list[tuple[str | None, Stamp]] = [(None, self._clock.stamp())]
        self._resolved: dict[str, float] | None = None

    def mark(self, stage: str) -> None:
        if self.per_stage:
            self._stamps.append((stage, self._clock.stamp()))

    def finish(self, stage: str) -> 'StageTimer':
        self._stamps.append((stage, self._clock.stamp()))
        return self

    def _timings(self) -> dict[str, float]:
        if self._resolved is None:
            if len(self._stamps) < 2:
                raise ModelStateError('StageTimer read before finish()')
            self._clock.wait(self._stamps[-1][1])
            if not self.per_stage:
                self._resolved = {TOTAL: self._clock.seconds(self._stamps[0][1], self._stamps[-1][1])}
            else:
                timings: dict[str, float] = {}
                for (_, begin), (closed, end) in zip(self._stamps, self._stamps[1:]):
                    stage = cast(str, closed)      # every stamp after the first closes a named stage
                    timings[stage] = timings.get(stage, 0.0) + self._clock.seconds(begin, end)
                self._resolved = timings
        return self._resolved

    def __getitem__(self, stage: str) -> float:
        return self._timings()[stage]

    def __iter__(self) -> Iterator[str]:
        return iter(self._timings())

    def __len__(self) -> int:
        return len(self._timings())

    def __repr__(self) -> str:
        state = self._timings() if self._resolved is not None else 'unread'
        return f'StageTimer({state})'


class HostUploader:
    """uint8 frames -> device tensor [B,H,W,3]; pinned buffer + non-blocking copy on CUDA."""

    def __init__(self, device: torch.device, pinned: bool = True):
        self.device = device
        self.pinned = pinned and device.type == 'cuda'
        self._buffer: torch.Tensor | None = None
        self._copy_done: torch.cuda.Event | None = None

    def upload(self, frames: np.ndarray) -> torch.Tensor:
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
