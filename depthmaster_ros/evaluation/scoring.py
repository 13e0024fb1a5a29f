"""One evaluation run: every sample of a dataset through its protocol, per-image metrics, their means.

Zero-shot datasets use `protocols.align_to_ground_truth` (a per-image fit to the ground truth).
Sparse datasets get their metres the way the node makes them: the node's fit of the relative map to
the sparse samples (`pipeline.frame_maps.HostMaps`, with the configured alignment settings and
method), scored in every range the dataset reports. Pixels the fit leaves without metres (outside
the alignment's depth limits) are not scored but lower the image's coverage; an image whose fit is
refused has no metrics and is listed with the reason.
"""
from dataclasses import dataclass, field, replace
import time
from typing import Any

import numpy as np

from depthmaster_ros.pipeline import HostMaps

from .datasets import Dataset, Sample
from .errors import EvaluationError
from .metrics import METRIC_KEYS, RELATIVE_KEYS, image_metrics, mean_metrics
from .protocols import align_to_ground_truth


@dataclass
class EvaluationResult:
    dataset: str
    protocol: str
    space: str
    keys: tuple[str, ...]
    images: list[dict[str, Any]] = field(default_factory=list)
    ranges: dict[str, dict[str, float]] = field(default_factory=dict)    # range label -> mean metrics
    failed: list[dict[str, str]] = field(default_factory=list)
    model_seconds: list[float] = field(default_factory=list)
    alignment_seconds: list[float] = field(default_factory=list)   # sparse: the node's fit and metres per image

    @property
    def metrics(self) -> dict[str, float]:
        """The headline: the first range's means."""
        return next(iter(self.ranges.values()), {})

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {'dataset': self.dataset, 'protocol': self.protocol, 'space': self.space,
                                'metrics': self.metrics, 'images': self.images}
        if len(self.ranges) > 1 or self.failed:
            data['ranges'] = self.ranges
            data['failed'] = self.failed
        if self.model_seconds:
            data['model_seconds_per_image'] = float(np.mean(self.model_seconds))
        if self.alignment_seconds:
            data['alignment_seconds_per_image'] = float(np.mean(self.alignment_seconds))
        return data


def evaluate(dataset: Dataset, predictions: Any, *, protocol: str = '', alignment: Any = None,
             limit: int | None = None, progress: bool = False) -> EvaluationResult:
    """Score `predictions` (ModelPredictions or FilePredictions) on the first `limit` samples of `dataset`.

    protocol: the zero-shot protocol's name (protocols.PROTOCOLS); alignment: the node's alignment
    settings for a sparse dataset (`config.alignment`, its method already chosen).
    """
    names = dataset.names()[:limit] if limit else dataset.names()
    sparse = dataset.sparse
    if sparse and alignment is None:
        raise EvaluationError(f'{dataset.name}: a sparse dataset needs the alignment settings')
    label = f'sparse {alignment.alignment_method}' if sparse else protocol
    result = EvaluationResult(dataset.name, label, predictions.space, METRIC_KEYS if sparse else RELATIVE_KEYS)
    per_range: dict[str, list[dict[str, float]]] = {r.label: [] for r in dataset.ranges}
    bar = _bar(len(names), progress, dataset.name)
    try:
        for name in names:
            sample = dataset.load(name)
            relative = predictions.relative(sample)
            if sparse:
                started = time.perf_counter()
                rows, reason = _sparse_image(sample, relative, predictions.space, dataset, alignment)
                result.alignment_seconds.append(time.perf_counter() - started)
            else:
                rows, reason = _relative_image(sample, relative, protocol, dataset)
            if reason:
                result.failed.append({'name': name, 'reason': reason})
            else:
                for label_, row in rows.items():
                    per_range[label_].append(row)
                result.images.append({'name': name, **rows[dataset.ranges[0].label]})
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    result.ranges = {label_: {**mean_metrics(rows, result.keys + (('coverage',) if sparse else ())),
                              'images': len(rows)} for label_, rows in per_range.items()}
    result.model_seconds = list(predictions.seconds)
    return result


def _relative_image(sample: Sample, relative: np.ndarray, protocol: str,
                    dataset: Dataset) -> tuple[dict[str, dict[str, float]], str]:
    clip = dataset.ranges[0]
    try:
        depth, _, _ = align_to_ground_truth(relative, sample.depth_m, sample.mask, protocol, clip.min_depth,
                                            clip.max_depth)
    except ValueError as error:
        return {}, str(error)
    return {clip.label: _only(image_metrics(depth, sample.depth_m, sample.mask), RELATIVE_KEYS)}, ''


def _sparse_image(sample: Sample, relative: np.ndarray, space: str, dataset: Dataset,
                  alignment: Any) -> tuple[dict[str, dict[str, float]], str]:
    if sample.sparse_m is None:
        return {}, 'no sparse samples'
    maps = HostMaps(relative)
    fit = maps.fit(sample.sparse_m, space, alignment)
    if not fit.ok:
        return {}, f'alignment refused: {fit.reason}'
    scale, shift = fit.local_correction or (fit.scale, fit.shift)
    metres = maps.metric(space, scale, shift, alignment)
    rows = {}
    for depth_range in dataset.ranges:
        mask = sample.mask & depth_range.mask(sample.depth_m)
        scored = mask & np.isfinite(metres)
        row = _only(image_metrics(metres, sample.depth_m, scored), METRIC_KEYS)
        row['coverage'] = float(scored.sum() / mask.sum()) if mask.any() else float('nan')
        rows[depth_range.label] = row
    return rows, ''


def _only(row: dict[str, float], keys: tuple[str, ...]) -> dict[str, float]:
    return {key: row[key] for key in keys}


def with_method(alignment: Any, method: str | None) -> Any:
    """The alignment settings with another fit method (global or local), or as they are."""
    return alignment if method is None else replace(alignment, alignment_method=method)


def _bar(total: int, enabled: bool, label: str) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit='image', desc=label, dynamic_ncols=True)
