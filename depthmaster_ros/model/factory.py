"""`load_estimator`: one entry point for every backend, so callers never import a backend module."""
import torch

from .runtime import parse_dtype, resolve_device

BACKENDS = ('depthmaster', 'marigold')


def load_estimator(backend='depthmaster', model=None, device='cpu', dtype='fp32', *,
                   marigold_steps=4, marigold_ensemble_size=1, channels_last=False, compile=False,
                   naive=False, timing=True):
    """Load weights once onto `device`; returns a DepthEstimator.

    DepthMaster options: channels_last, compile (torch.compile, off by default), naive (eager fp32
    benchmark baseline). Marigold options: marigold_steps, marigold_ensemble_size. Both: timing
    (per-stage timings; False reports only the total, and each call may override it).
    """
    if backend not in BACKENDS:
        raise ValueError(f'backend: expected one of {BACKENDS}, got {backend!r}')
    if model is None:
        raise ValueError('model: a model directory or hub id is required')
    torch_device = resolve_device(device)
    torch_dtype = parse_dtype(dtype)
    if backend == 'marigold':
        from .marigold import load_marigold
        return load_marigold(model, torch_device, torch_dtype, steps=marigold_steps,
                             ensemble_size=marigold_ensemble_size, timing=timing)
    from .depthmaster import DepthMasterEstimator
    from .loading import load_depthmaster_parts
    parts = load_depthmaster_parts(model, torch.float32 if naive else torch_dtype)
    return DepthMasterEstimator(parts.unet, parts.vae, parts.fourier, parts.empty_text_embedding,
                                model_id=str(model), device=torch_device, dtype=torch_dtype,
                                channels_last=channels_last, compile=compile, naive=naive, timing=timing)
