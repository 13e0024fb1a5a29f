"""What the pipeline, the node, the bag tool and the fleet may call on an estimator, as types.

`DepthEstimator` (model/estimator.py) is the base the backends share, but anything with these members
is an estimator (tests wrap real ones), so the places the estimator travels name these protocols, not
a class. They are runtime-checkable: `isinstance(x, DeviceEstimator)` asks for device output.
Kept free of torch and numpy at run time, like the backend registry.
"""
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .prediction import Prediction


@runtime_checkable
class Estimator(Protocol):
    """Relative depth for RGB frames, labelled with its space, on one device in one dtype.

    A frame is a uint8 (H, W, 3) numpy array, or a uint8 tensor already on the estimator's device.
    """

    backend: str            # the backend registry's name (model/backends.py)
    model_id: str           # the weights it runs (directory or hub id)
    space: str              # the space of every Prediction.relative (model/prediction.py)
    device: 'torch.device'
    dtype: 'torch.dtype'

    def predict(self, rgb: 'np.ndarray | torch.Tensor', processing_res: int = ...) -> 'Prediction':
        ...

    def predict_batch(self, frames: 'Sequence[np.ndarray | torch.Tensor]',
                      processing_res: int = ...) -> 'list[Prediction]':
        """Predictions in input order (same-size frames share one forward)."""
        ...

    def warm_up(self, image_sizes: Collection[tuple[int, int]], processing_res: int | Collection[int],
                batch_sizes: Collection[int] = ...) -> dict[str, float]:
        """One blank batch per (width x height, resolution, batch size); seconds of each by name."""
        ...


@runtime_checkable
class DeviceEstimator(Estimator, Protocol):
    """An estimator that can hand back its relative maps on its device (no host copy)."""

    def predict_tensor(self, frames: 'np.ndarray | torch.Tensor',
                       processing_res: int = ...) -> 'tuple[torch.Tensor, Mapping[str, float]]':
        """Same-size frames [B, H, W, 3] -> (device float32 [B, H, W] in [0, 1], stage timings)."""
        ...


@runtime_checkable
class CompilableEstimator(Estimator, Protocol):
    """An estimator whose forward can be switched between eager and a torch.compile mode."""

    def set_compile(self, compile: bool | str) -> None:
        ...
