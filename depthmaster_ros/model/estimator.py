"""The estimator interface the node, the bag tool and the benchmark call."""
from .preprocess import validate_rgb


class DepthEstimator:
    """Base: `predict` one RGB frame, `predict_batch` several (same-size frames share one forward)."""

    backend = None
    space = None

    def __init__(self, model_id, device, dtype):
        self.model_id = model_id
        self.device = device
        self.dtype = dtype

    def predict(self, rgb, processing_res=768):
        validate_rgb(rgb)
        return self._predict_same_size([rgb], processing_res)[0]

    def predict_batch(self, frames, processing_res=768):
        """Predictions in input order; frames are grouped by size and each group runs as one batch."""
        if isinstance(frames, (str, bytes)) or not hasattr(frames, '__len__'):
            raise ValueError(f'frames: expected a list of (H, W, 3) uint8 arrays, got {type(frames).__name__}')
        groups = {}
        for index, rgb in enumerate(frames):
            validate_rgb(rgb, name=f'frames[{index}]')
            groups.setdefault(rgb.shape, []).append(index)
        results = [None] * len(frames)
        for indices in groups.values():
            for index, prediction in zip(indices, self._predict_same_size([frames[i] for i in indices], processing_res)):
                results[index] = prediction
        return results

    def _predict_same_size(self, frames, processing_res):
        raise NotImplementedError

    def __repr__(self):
        return (f'{type(self).__name__}(backend={self.backend!r}, model_id={self.model_id!r}, '
                f'device={self.device}, dtype={self.dtype}, space={self.space!r})')
