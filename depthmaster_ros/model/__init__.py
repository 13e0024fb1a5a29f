"""DepthMaster and Marigold estimators (ROS-free; torch is imported only when a model is loaded).

    est = load_estimator(backend='depthmaster', model=DIR_OR_REPO_ID, device='cpu', dtype='fp32')
    pred = est.predict(rgb_uint8_hw3, processing_res=768)   # Prediction(relative, space, confidence, timings)

A frame may also be a uint8 tensor already on the estimator's device (no upload). `timing=False`
(at load or per call) skips per-stage timing: `timings` then holds only TOTAL.
"""
from typing import Any

from .backends import backend_names, from_pretrained
from .errors import ModelLoadError
from .prediction import STAGES, TOTAL, Prediction, Space
from .protocol import CompilableEstimator, DeviceEstimator, Estimator


def load_estimator(backend: str = 'depthmaster', model: str | None = None, device: str = 'cpu',
                   dtype: str = 'fp32', **options: Any) -> Estimator:
    """Load weights once onto `device`; returns a DepthEstimator. Options are the backend's own
    (see `backends.BACKENDS`: depthmaster channels_last, compile, naive; marigold marigold_steps,
    marigold_ensemble_size) plus timing. Same as `backends.from_pretrained`."""
    return from_pretrained(backend, model, device, dtype, **options)


__all__ = ['STAGES', 'TOTAL', 'CompilableEstimator', 'DeviceEstimator', 'Estimator', 'ModelLoadError', 'Prediction',
           'Space', 'backend_names', 'from_pretrained', 'load_estimator']
