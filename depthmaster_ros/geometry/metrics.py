"""Depth accuracy against ground truth: AbsRel and delta1, the two numbers depth papers report.

Only pixels where both the ground truth and the prediction are finite and positive count; the share of
ground-truth pixels that got a valid prediction is reported separately as coverage, so a method cannot
look accurate by leaving hard pixels empty without that being visible.
"""
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.geometry.array_checks import IMAGE, float_array

from .errors import GeometryError

DELTA1_THRESHOLD = 1.25


@dataclass
class DepthErrors:
    abs_rel: float      # mean |pred - gt| / gt
    delta1: float       # share of pixels with max(pred/gt, gt/pred) < 1.25
    rmse_m: float       # root mean square error, metres
    num_valid: int      # pixels compared
    coverage: float     # num_valid / ground-truth pixels in range

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _as_depth(array: ArrayLike, name: str) -> np.ndarray:
    return float_array(array, name, IMAGE, np.float64)


def depth_errors(pred_m: ArrayLike, gt_m: ArrayLike, min_depth: float = 1e-3, max_depth: float = np.inf) -> DepthErrors:
    """Compare a metric depth image with ground truth; NaN metrics when nothing is comparable."""
    pred = _as_depth(pred_m, 'pred_m')
    gt = _as_depth(gt_m, 'gt_m')
    if pred.shape != gt.shape:
        raise GeometryError(f'pred_m: shape {pred.shape} differs from gt_m shape {gt.shape}')
    with np.errstate(invalid='ignore'):
        gt_valid = np.isfinite(gt) & (gt >= min_depth) & (gt <= max_depth)
        valid = gt_valid & np.isfinite(pred) & (pred > 0)
    num_gt = int(gt_valid.sum())
    num_valid = int(valid.sum())
    if num_valid == 0:
        nan = float('nan')
        return DepthErrors(nan, nan, nan, 0, 0.0)
    p, g = pred[valid], gt[valid]
    ratio = np.maximum(p / g, g / p)
    return DepthErrors(
        abs_rel=float(np.mean(np.abs(p - g) / g)),
        delta1=float(np.mean(ratio < DELTA1_THRESHOLD)),
        rmse_m=float(np.sqrt(np.mean((p - g) ** 2))),
        num_valid=num_valid,
        coverage=num_valid / num_gt,
    )


def mean_errors(per_frame: Sequence[DepthErrors]) -> dict[str, float] | None:
    """Average per-frame errors (each frame weighs the same, as in the usual per-image evaluation)."""
    frames = [e for e in per_frame if e.num_valid > 0]
    if not frames:
        return None
    return {
        'abs_rel': float(np.mean([e.abs_rel for e in frames])),
        'delta1': float(np.mean([e.delta1 for e in frames])),
        'rmse_m': float(np.mean([e.rmse_m for e in frames])),
        'coverage': float(np.mean([e.coverage for e in per_frame])),
        'frames': len(frames),
    }
