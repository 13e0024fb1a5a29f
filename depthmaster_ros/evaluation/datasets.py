"""What an evaluation dataset is, and the registry that names them (`--dataset NAME`).

A dataset turns its files into samples: the RGB image the model sees, the ground truth in metres,
the evaluation mask (valid ground truth inside the published crop), and for the sparse-depth
benchmarks the sparse metric samples the alignment fits to. Each dataset states its depth ranges; a
relative one has one (its clip range), a sparse one may report several (VOID: 0.2-5 m and all).
"""
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import EvaluationError
from .sources import DataSource


@dataclass
class Sample:
    name: str                         # the image's path in the dataset without suffix: key of cache and rows
    rgb: np.ndarray                   # (H, W, 3) uint8, what the model sees
    depth_m: np.ndarray               # (H, W) float32 ground truth, metres (anything outside the mask is ignored)
    mask: np.ndarray                  # (H, W) bool evaluation mask
    sparse_m: np.ndarray | None = None  # (H, W) float32 sparse metric samples, NaN where none (sparse protocol)


@dataclass(frozen=True)
class DepthRange:
    label: str
    min_depth: float
    max_depth: float

    def mask(self, depth_m: np.ndarray) -> np.ndarray:
        """Ground truth strictly inside the range (the published masks use strict bounds)."""
        with np.errstate(invalid='ignore'):
            return np.isfinite(depth_m) & (depth_m > self.min_depth) & (depth_m < self.max_depth)


@dataclass(frozen=True)
class DatasetOptions:
    split: str | None = None          # the split list; None: the official file found beside the data
    points: int | None = None         # sparse samples per image (void: 150/500/1500, nyu: 500)
    min_depth: float | None = None    # folder: the evaluated range
    max_depth: float | None = None
    seed: int = 0                     # where random sparse samples are drawn


class Dataset(ABC):
    """One dataset opened at a path; `names()` in split order, `load(name)` one sample."""
    name = ''
    description = ''
    official_count: int | None = None     # images of the official split (printed beside the count read)
    split_file = ''                       # the official split list's path in the published evaluation code

    def __init__(self, source: DataSource, options: DatasetOptions):
        self.source = source
        self.options = options

    @property
    def sparse(self) -> bool:
        """True for the sparse-depth metric protocol (the project's alignment), False for zero-shot."""
        return False

    @property
    @abstractmethod
    def ranges(self) -> tuple[DepthRange, ...]:
        """The first range is the protocol's clip range (zero-shot) and the headline (sparse)."""

    @abstractmethod
    def names(self) -> list[str]:
        """Sample names in split order."""

    @abstractmethod
    def load(self, name: str) -> Sample:
        """One sample by name."""


_REGISTRY: dict[str, type[Dataset]] = {}


def register(name: str, description: str) -> Callable[[type[Dataset]], type[Dataset]]:
    """Class decorator: make a Dataset subclass available as `--dataset name`."""
    def decorate(cls: type[Dataset]) -> type[Dataset]:
        if name in _REGISTRY:
            raise EvaluationError(f'dataset {name!r} is registered twice')
        cls.name, cls.description = name, description
        _REGISTRY[name] = cls
        return cls
    return decorate


def dataset_names() -> list[str]:
    return list(_REGISTRY)


def dataset_class(name: str) -> type[Dataset]:
    if name not in _REGISTRY:
        raise EvaluationError(f'--dataset: expected one of {", ".join(_REGISTRY)}, got {name!r}')
    return _REGISTRY[name]


def open_dataset(name: str, path: str | Path, options: DatasetOptions | None = None) -> Dataset:
    return dataset_class(name)(DataSource(path), options or DatasetOptions())


def read_split(source: DataSource, options: DatasetOptions, official_name: str) -> list[list[str]]:
    """The split list's lines as fields: --split, else `official_name` in the data or beside it."""
    if options.split:
        text = Path(options.split).read_text()
    else:
        basename = Path(official_name).name
        inside = [candidate for candidate in (official_name, basename) if source.exists(candidate)]
        beside = [path for path in (source.root.parent / basename, source.root.parent / official_name)
                  if path.is_file()]
        if inside:
            text = source.read_bytes(inside[0]).decode()
        elif beside:
            text = beside[0].read_text()
        else:
            raise EvaluationError(f'split list: {basename} is not in {source.root} nor beside it; pass --split FILE '
                                  f'(the official evaluation code ships it as {official_name})')
    return [line.split() for line in text.splitlines() if line.strip()]


def without_suffix(relative: str) -> str:
    return str(Path(relative).with_suffix(''))
