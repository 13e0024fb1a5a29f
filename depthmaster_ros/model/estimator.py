"""The estimator interface the node, the bag tool and the benchmark call."""
from collections.abc import Collection, Sequence
import time
from typing import TYPE_CHECKING, cast

import numpy as np

from .errors import ModelError
from .frames import check_frames
from .runtime import check_timing

if TYPE_CHECKING:
    import torch

    from .prediction import Prediction


class DepthEstimator:
    """Base: `predict` one RGB frame, `predict_batch` several (same-size frames share one forward).

    A frame is a uint8 (H, W, 3) numpy array, or a uint8 tensor already on the estimator's device.
    `timing` (here or per call) turns per-stage timing off: Prediction.timings then holds only 'total'.
    """

    backend: str = ''
    space: str = ''

    def __init__(self, model_id: str, device: 'torch.device', dtype: 'torch.dtype', timing: bool = True):
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self.timing = check_timing(timing)

    def predict(self, rgb: 'np.ndarray | torch.Tensor', processing_res: int = 768,
                timing: bool | None = None) -> 'Prediction':
        check_frames(rgb, self.device, name='rgb', batched=False)
        return self._predict_group([rgb], processing_res, timing)[0]

    def predict_batch(self, frames: 'Sequence[np.ndarray | torch.Tensor]', processing_res: int = 768,
                      timing: bool | None = None) -> 'list[Prediction]':
        """Predictions in input order; frames are grouped by size and each group runs as one batch."""
        if isinstance(frames, (str, bytes)) or not hasattr(frames, '__len__'):
            raise ModelError(f'frames: expected a list of (H, W, 3) uint8 arrays, got {type(frames).__name__}')
        if timing is not None:
            check_timing(timing)
        groups: dict[tuple[bool, tuple[int, ...]], list[int]] = {}
        for index, rgb in enumerate(frames):
            check_frames(rgb, self.device, name=f'frames[{index}]', batched=False)
            # Host arrays and device tensors of one size are separate groups: each is stacked as its kind.
            groups.setdefault((isinstance(rgb, np.ndarray), tuple(rgb.shape)), []).append(index)
        results: list[Prediction | None] = [None] * len(frames)
        for indices in groups.values():
            group = [frames[i] for i in indices]
            for index, prediction in zip(indices, self._predict_group(group, processing_res, timing)):
                results[index] = prediction
        return cast('list[Prediction]', results)   # every index is filled above

    def warm_up(self, image_sizes: Collection[tuple[int, int]], processing_res: int | Collection[int],
                batch_sizes: Collection[int] = (1,)) -> dict[str, float]:
        """Run one blank batch per (image size, processing resolution, batch size) so that the first
        real frame of each shape pays no compilation, CUDA-graph capture or kernel selection.

        image_sizes are (width, height) pairs, processing_res an int or several. Returns
        {'WxH rRES bN': seconds} (the time of each blank batch, compilation included).
        """
        resolutions = (processing_res,) if isinstance(processing_res, int) else tuple(processing_res)
        _allow_static_graphs(len(image_sizes) * len(resolutions) * len(batch_sizes))
        seconds = {}
        for width, height in image_sizes:
            for res in resolutions:
                for batch in batch_sizes:
                    frames = [np.zeros((int(height), int(width), 3), np.uint8)] * int(batch)
                    start = time.perf_counter()
                    self.predict_batch(frames, processing_res=res, timing=False)
                    seconds[f'{width}x{height} r{res} b{batch}'] = time.perf_counter() - start
        return seconds

    def _predict_group(self, frames: 'Sequence[np.ndarray | torch.Tensor]', processing_res: int,
                       timing: bool | None) -> 'list[Prediction]':
        # A call that leaves `timing` alone keeps the two-argument hook, so a subclass that has no
        # per-stage timing of its own only implements that.
        if timing is None:
            return self._predict_same_size(frames, processing_res)
        return self._predict_same_size(frames, processing_res, per_stage=check_timing(timing))

    def _per_stage(self, timing: bool | None) -> bool:
        """A call's `timing`, or the estimator's when the call leaves it as None."""
        return self.timing if timing is None else check_timing(timing)

    def _predict_same_size(self, frames: 'Sequence[np.ndarray | torch.Tensor]', processing_res: int,
                           per_stage: bool | None = None) -> 'list[Prediction]':
        """Predictions for same-size frames; `per_stage` None means the estimator's `timing`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(backend={self.backend!r}, model_id={self.model_id!r}, '
                f'device={self.device}, dtype={self.dtype}, space={str(self.space)!r})')


def _allow_static_graphs(shapes: int) -> None:
    """Let torch.compile keep one static graph per warmed shape (its default limit is 8 per function;
    beyond it a function silently falls back to eager)."""
    import torch._dynamo.config as dynamo_config
    name = 'recompile_limit' if hasattr(dynamo_config, 'recompile_limit') else 'cache_size_limit'
    wanted = 2 * int(shapes) + 8
    if getattr(dynamo_config, name, wanted) < wanted:
        setattr(dynamo_config, name, wanted)
