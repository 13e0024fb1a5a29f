"""DepthMaster and Marigold estimators (ROS-free; torch is imported only when a model is loaded).

    est = load_estimator(backend='depthmaster', model=DIR_OR_REPO_ID, device='cpu', dtype='fp32')
    pred = est.predict(rgb_uint8_hw3, processing_res=768)   # Prediction(relative, space, confidence, timings)

A frame may also be a uint8 tensor already on the estimator's device (no upload). `timing=False`
(at load or per call) skips per-stage timing: `timings` then holds only TOTAL.
"""
from .errors import ModelLoadError
from .prediction import SPACE_DEPTH, SPACE_DISPARITY, SPACE_SQRT_DISPARITY, SPACES, STAGES, TOTAL, Prediction


def load_estimator(backend='depthmaster', model=None, device='cpu', dtype='fp32', **options):
    """See depthmaster_ros.model.factory.load_estimator (imported lazily: it pulls in torch)."""
    from .factory import load_estimator as load
    return load(backend, model, device, dtype, **options)


__all__ = ['load_estimator', 'Prediction', 'ModelLoadError', 'SPACE_SQRT_DISPARITY', 'SPACE_DEPTH',
           'SPACE_DISPARITY', 'SPACES', 'STAGES', 'TOTAL']
