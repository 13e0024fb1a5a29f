"""DepthMaster and Marigold estimators (ROS-free; torch is imported only when a model is loaded).

    est = load_estimator(backend='depthmaster', model=DIR_OR_REPO_ID, device='cpu', dtype='fp32')
    pred = est.predict(rgb_uint8_hw3, processing_res=768)   # Prediction(relative, space, confidence, timings)

A frame may also be a uint8 tensor already on the estimator's device (no upload). `timing=False`
(at load or per call) skips per-stage timing: `timings` then holds only TOTAL.
"""
from typing import TYPE_CHECKING, Any

from ..alignment import Space
from ..lazy_exports import lazy_attributes
from .backends import BACKENDS, COMPILE_MODES, backend_names, compile_choices, from_pretrained, get_backend, parameter_options
from .errors import ModelError, ModelLoadError, ModelStateError
from .prediction import STAGES, TOTAL, Prediction
from .protocol import CompilableEstimator, DeviceEstimator, Estimator
from .provenance import describe_weights, weights_line
from .sizing import check_processable, processing_size

if TYPE_CHECKING:
    from .depthmaster import LATENT_SCALE_FACTOR, TIMESTEP
    from .estimator import DepthEstimator
    from .fourier_enhancement import FourierEnhancement
    from .full_size import SD2_TEXT_HIDDEN, SD2_UNET_CONFIG, SD2_VAE_CONFIG, build_full_size
    from .loading import (
        FFT_PREFIX,
        DepthMasterParts,
        check_layout,
        find_weights_file,
        load_depthmaster_parts,
        read_weights,
        resolve_model_directory,
        verify_model_sha256,
    )
    from .marigold import ensemble_members, spread_to_confidence
    from .preprocess import decoded_to_unit, normalise, resize_back, resize_uint8
    from .provenance import RANDOM_WEIGHTS_BANNER, RANDOM_WEIGHTS_NOTE, model_sha256
    from .runtime import StageTimer, parse_dtype
    from .tiny import add_fourier_tensors, write_tiny_marigold, write_tiny_model

# These modules import torch: they load on first use of one of their names.
__getattr__ = lazy_attributes(__name__, {
    'loading': ('read_weights', 'verify_model_sha256', 'check_layout', 'resolve_model_directory', 'FFT_PREFIX',
                'DepthMasterParts', 'find_weights_file', 'load_depthmaster_parts'),
    'depthmaster': ('LATENT_SCALE_FACTOR', 'TIMESTEP'),
    'provenance': ('model_sha256', 'RANDOM_WEIGHTS_BANNER', 'RANDOM_WEIGHTS_NOTE',),
    'estimator': ('DepthEstimator',),
    'fourier_enhancement': ('FourierEnhancement',),
    'full_size': ('SD2_TEXT_HIDDEN', 'SD2_UNET_CONFIG', 'SD2_VAE_CONFIG', 'build_full_size'),
    'marigold': ('ensemble_members', 'spread_to_confidence'),
    'preprocess': ('decoded_to_unit', 'normalise', 'resize_back', 'resize_uint8'),
    'runtime': ('StageTimer', 'parse_dtype'),
    'tiny': ('add_fourier_tensors', 'write_tiny_marigold', 'write_tiny_model'),
})


def load_estimator(backend: str = 'depthmaster', model: str | None = None, device: str = 'cpu',
                   dtype: str = 'fp32', **options: Any) -> Estimator:
    """Load weights once onto `device`; returns a DepthEstimator. Options are the backend's own
    (see `backends.BACKENDS`: depthmaster channels_last, compile, naive; marigold marigold_steps,
    marigold_ensemble_size) plus timing. Same as `backends.from_pretrained`."""
    return from_pretrained(backend, model, device, dtype, **options)


__all__ = ['BACKENDS', 'COMPILE_MODES', 'CompilableEstimator', 'DepthEstimator', 'DepthMasterParts', 'DeviceEstimator',
           'Estimator', 'FFT_PREFIX', 'LATENT_SCALE_FACTOR', 'TIMESTEP', 'add_fourier_tensors', 'check_processable',
           'find_weights_file', 'load_depthmaster_parts',
           'FourierEnhancement', 'SD2_TEXT_HIDDEN', 'ModelError', 'ModelLoadError', 'ModelStateError', 'Prediction',
           'SD2_TEXT_HIDDEN',
           'RANDOM_WEIGHTS_BANNER', 'RANDOM_WEIGHTS_NOTE', 'SD2_UNET_CONFIG', 'SD2_VAE_CONFIG', 'STAGES', 'Space',
           'StageTimer', 'TOTAL', 'backend_names', 'build_full_size', 'check_layout', 'compile_choices',
           'decoded_to_unit', 'describe_weights', 'ensemble_members', 'from_pretrained', 'get_backend',
           'load_estimator', 'model_sha256', 'normalise', 'parameter_options', 'parse_dtype', 'processing_size',
           'read_weights', 'resize_back', 'resize_uint8', 'resolve_model_directory', 'spread_to_confidence',
           'verify_model_sha256', 'weights_line', 'write_tiny_marigold', 'write_tiny_model']
