"""Per-image depth metrics as the published zero-shot tables compute them, and their mean over images.

Every metric is taken over the image's evaluation mask only (valid ground truth inside the dataset's
crop), and a dataset's number is the plain mean of the per-image numbers: an image weighs the same
whatever its count of valid pixels. The prediction is already clipped to a positive range by the
protocol, so every log and ratio below is defined on the mask.
"""
from collections.abc import Iterable, Mapping

import numpy as np

from .errors import EvaluationError

# The keys of the relative-depth tables, in their usual column order.
RELATIVE_KEYS = ('abs_rel', 'sq_rel', 'rmse', 'rmse_log', 'log10', 'delta1', 'delta2', 'delta3')
# Metric depth adds the mean absolute error in metres.
METRIC_KEYS = ('mae', 'rmse', 'abs_rel') + tuple(k for k in RELATIVE_KEYS if k not in ('rmse', 'abs_rel'))
DELTA_BASE = 1.25


def image_metrics(pred_m: np.ndarray, gt_m: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The metrics of one image on `mask` (pred and gt positive there); NaN for every key when the mask is empty."""
    if pred_m.shape != gt_m.shape or mask.shape != gt_m.shape:
        raise EvaluationError(f'pred/gt/mask: shapes {pred_m.shape}, {gt_m.shape}, {mask.shape} differ')
    keys = ('mae',) + RELATIVE_KEYS
    if not mask.any():
        return dict.fromkeys(keys, float('nan'))
    pred = pred_m[mask].astype(np.float64)
    gt = gt_m[mask].astype(np.float64)
    error = pred - gt
    ratio = np.maximum(pred / gt, gt / pred)
    log_error = np.log(pred) - np.log(gt)
    return {
        'mae': float(np.mean(np.abs(error))),
        'abs_rel': float(np.mean(np.abs(error) / gt)),
        'sq_rel': float(np.mean(error * error / gt)),
        'rmse': float(np.sqrt(np.mean(error * error))),
        'rmse_log': float(np.sqrt(np.mean(log_error * log_error))),
        'log10': float(np.mean(np.abs(np.log10(pred) - np.log10(gt)))),
        'delta1': float(np.mean(ratio < DELTA_BASE)),
        'delta2': float(np.mean(ratio < DELTA_BASE ** 2)),
        'delta3': float(np.mean(ratio < DELTA_BASE ** 3)),
    }


def mean_metrics(per_image: Iterable[Mapping[str, float]], keys: tuple[str, ...]) -> dict[str, float]:
    """The mean of each key over the images that have it (an image without valid pixels is left out)."""
    rows = list(per_image)
    means = {}
    for key in keys:
        values = [row[key] for row in rows if np.isfinite(row.get(key, float('nan')))]
        means[key] = float(np.mean(values)) if values else float('nan')
    return means
