"""Where the relative maps come from: the model (through the prediction cache) or files made elsewhere.

Either way a map reaches the protocol at the ground truth's size: a map of another size (a model
run at its processing size, another project's files) is resized bilinearly, as the published
evaluation resizes its output to the input.
"""
from pathlib import Path
import time
from typing import Any

import numpy as np

from .cache import PredictionCache
from .datasets import Sample
from .errors import EvaluationError
from .protocols import PROTOCOLS

SPACES = tuple(str(space) for space in PROTOCOLS.values())


def at_size(relative: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if relative.shape == tuple(shape):
        return relative
    import cv2
    return cv2.resize(relative.astype(np.float32), (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)


class ModelPredictions:
    """The estimator's relative map of each sample; `seconds` holds the model time of the maps it made."""

    def __init__(self, estimator: Any, processing_res: int, cache: PredictionCache | None = None):
        self.estimator = estimator
        self.space = str(estimator.space)
        self.processing_res = int(processing_res)
        self.cache = cache
        self.seconds: list[float] = []

    def relative(self, sample: Sample) -> np.ndarray:
        cached = None if self.cache is None else self.cache.get(sample.name)
        if cached is None:
            started = time.perf_counter()
            cached = self.estimator.predict(sample.rgb, processing_res=self.processing_res).relative
            self.seconds.append(time.perf_counter() - started)
            if self.cache is not None:
                self.cache.put(sample.name, cached)
        return at_size(np.asarray(cached, np.float32), sample.depth_m.shape)


class FilePredictions:
    """DIR/NAME.npy (float32, in `space`) for each sample NAME."""

    def __init__(self, folder: str | Path, space: str):
        if space not in SPACES:
            raise EvaluationError(f'--space: expected one of {SPACES}, got {space!r}')
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise EvaluationError(f'--predictions: {self.folder} is not a directory')
        self.space = space
        self.seconds: list[float] = []

    def relative(self, sample: Sample) -> np.ndarray:
        path = self.folder / f'{sample.name}.npy'
        if not path.is_file():
            raise EvaluationError(f'--predictions: {path} does not exist')
        values = np.load(path)
        if values.ndim == 3 and 1 in values.shape:
            values = np.squeeze(values)
        if values.ndim != 2:
            raise EvaluationError(f'--predictions: {path} is {values.shape}, expected an HxW map')
        return at_size(values.astype(np.float32), sample.depth_m.shape)


def backend_space(backend: str) -> str:
    """The space a backend's estimator predicts in, read from its estimator class (imports the backend)."""
    import importlib

    from depthmaster_ros.model import DepthEstimator, get_backend
    module = importlib.import_module(get_backend(backend).loader.partition(':')[0])
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, DepthEstimator) and value.backend == backend:
            return str(value.space)
    raise EvaluationError(f'backend {backend!r}: no estimator class names its space; pass --space')
