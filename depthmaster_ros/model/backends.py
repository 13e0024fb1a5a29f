"""The backend registry: every model family by name, with the options it accepts and how to load it.

Names come from here alone (the parameter table's choices, the CLI flags, the node), and loading
goes through `from_pretrained`, so a new backend is one entry here and one module. Loaders and
tiny-model writers are named as 'module:function' and imported on use: listing the backends never
imports torch.
"""
from collections.abc import Callable
from dataclasses import dataclass
import importlib
from typing import TYPE_CHECKING, Any

from .errors import ModelError

if TYPE_CHECKING:
    from .protocol import Estimator

# Options every backend takes: per-stage timing on or off.
COMMON_OPTIONS = ('timing',)


@dataclass(frozen=True)
class Backend:
    name: str
    description: str
    loader: str                       # 'module:function(model, device, dtype, **options) -> DepthEstimator'
    tiny_writer: str                  # 'module:function(directory, seed) -> Path' (tests, demo fallback)
    options: tuple[str, ...] = ()     # its own keyword options; those named like a node parameter come from it

    def load_function(self) -> Callable[..., Any]:
        return _resolve(self.loader)

    def tiny_function(self) -> Callable[..., Any]:
        return _resolve(self.tiny_writer)


# torch.compile modes the depthmaster backend accepts (here, so the parameter table lists them without torch)
COMPILE_MODES = ('default', 'reduce-overhead', 'max-autotune', 'max-autotune-no-cudagraphs')


def _resolve(target: str) -> Callable[..., Any]:
    module, _, function = target.partition(':')
    resolved: Callable[..., Any] = getattr(importlib.import_module(module), function)
    return resolved


BACKENDS: dict[str, Backend] = {
    backend.name: backend for backend in (
        Backend('depthmaster', 'DepthMaster: one deterministic UNet pass with the Fourier Enhancement block',
                'depthmaster_ros.model.depthmaster:load_depthmaster',
                'depthmaster_ros.model.tiny:write_tiny_model',
                options=('channels_last', 'compile', 'naive')),
        Backend('marigold', 'Marigold through diffusers: multi-step denoising, optional ensembling',
                'depthmaster_ros.model.marigold:load_marigold_estimator',
                'depthmaster_ros.model.tiny:write_tiny_marigold',
                options=('marigold_steps', 'marigold_ensemble_size')),
    )
}


def backend_names() -> tuple[str, ...]:
    return tuple(BACKENDS)


def compile_choices() -> tuple[str, ...]:
    """The compile parameter's choices: 'off' (eager) and the torch.compile modes."""
    return ('off', *COMPILE_MODES)


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ModelError(f'backend: expected one of {", ".join(BACKENDS)}, got {name!r}') from None


def parameter_options(name: str, values: dict[str, Any]) -> dict[str, Any]:
    """The backend's options that are node parameters, taken from a flat parameter dict."""
    return {option: values[option] for option in get_backend(name).options if option in values}


def from_pretrained(backend: str, model: str | None, device: str = 'cpu', dtype: str = 'fp32',
                    **options: Any) -> 'Estimator':
    """Load `model` (directory or hub id) with `backend` onto device; options not declared are refused."""
    spec = get_backend(backend)
    unknown = sorted(set(options) - set(spec.options) - set(COMMON_OPTIONS))
    if unknown:
        allowed = ', '.join(spec.options + COMMON_OPTIONS)
        raise ModelError(f'{backend} backend: unknown option(s) {", ".join(unknown)}; it accepts {allowed}')
    if model is None:
        raise ModelError('model: a model directory or hub id is required')
    from .runtime import parse_dtype, resolve_device
    estimator: Estimator = spec.load_function()(model, resolve_device(device), parse_dtype(dtype), **options)
    return estimator
