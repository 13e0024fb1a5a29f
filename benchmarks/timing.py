"""Stage timing for the benchmark: wall-clock samples per named stage, summarised as percentiles.

CUDA work is asynchronous, so a stage is only closed after the device has finished it; on the CPU the
synchronisation is a no-op.
"""
from collections import defaultdict
from contextlib import contextmanager
import time

import numpy as np


def summarize(samples_s):
    """Median, p90, p99, mean, min and max in milliseconds of a list of durations in seconds."""
    values = np.asarray(samples_s, dtype=np.float64) * 1e3
    if values.size == 0:
        return {'n': 0}
    return {
        'n': int(values.size),
        'median_ms': float(np.median(values)),
        'p90_ms': float(np.percentile(values, 90)),
        'p99_ms': float(np.percentile(values, 99)),
        'mean_ms': float(values.mean()),
        'min_ms': float(values.min()),
        'max_ms': float(values.max()),
    }


class StageTimer:
    """Collects per-stage durations; `stage(name)` times a block, `add(name, s)` records a known duration."""

    def __init__(self, synchronize=None):
        self._synchronize = synchronize or (lambda: None)
        self.samples = defaultdict(list)

    @contextmanager
    def stage(self, name):
        self._synchronize()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._synchronize()
            self.samples[name].append(time.perf_counter() - start)

    def add(self, name, seconds):
        self.samples[name].append(float(seconds))

    def summary(self):
        return {name: summarize(values) for name, values in self.samples.items()}
