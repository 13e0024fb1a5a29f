"""Validation: metric depth made with the node's alignment, scored against held-out LiDAR returns.

The protocol of `evaluate --dataset bag` on the held-out frames: per frame a seeded share of the LiDAR
samples (HELD_SHARE, drawn per stamp as `--holdout 20%` draws it) is held out; the node's fit
(`alignment.fit_to_sparse_depth`, its depth limits, minimum count and method) turns the relative
prediction into metres with the rest, and the held-out returns score those metres (the evaluation's
per-image metrics, averaged over frames). A line the node would refuse to publish (its verdicts:
too little support, too uncertain) is still scored, so that a weak model has a number to improve
on; `refused` is the share of frames the node would not have published, and frames where no line
with a positive scale exists at all are counted as `unfitted` and left out. Frames whose bag carries
dense ground truth are also scored on it (`dense_*` keys). The prediction is the model's at the
processing size, resized back to the image as the estimator does.
"""
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from depthmaster_ros.alignment import Space, apply_alignment, fit_to_sparse_depth
from depthmaster_ros.evaluation import image_metrics, mean_metrics
from depthmaster_ros.model import check_processable, resize_back, resize_uint8

if TYPE_CHECKING:
    from .samples import TrainingSample
    from .trainable import TrainableDepthMaster

HELD_SHARE = 0.2
SCORED_KEYS = ('rmse', 'abs_rel', 'mae', 'delta1')


@dataclass(frozen=True)
class AlignmentLimits:
    """The node's fit settings the validation uses (from --params, else the node's defaults)."""
    min_depth: float = 0.1
    max_depth: float = 100.0
    min_points: int = 20
    method: str = 'global'

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> 'AlignmentLimits':
        return cls(**(values or {}))


def held_out(sparse: np.ndarray, stamp_ns: int, seed: int) -> np.ndarray:
    """bool mask of the samples held out of the fit (finite sparse depth, a seeded share per stamp)."""
    rng = np.random.default_rng([seed, int(stamp_ns)])
    mask: np.ndarray = np.isfinite(sparse) & (rng.random(sparse.shape) < HELD_SHARE)
    return mask


def predict_relative(model: 'TrainableDepthMaster', image: np.ndarray, res: int) -> np.ndarray:
    """The model's unit sqrt-disparity at the image's size (processing size `res`, resized back)."""
    height, width = image.shape[:2]
    new_w, new_h = check_processable(width, height, res)
    device = next(model.unet.parameters()).device
    pixels = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1)[None]
    small = resize_uint8(pixels, (new_h, new_w)).permute(0, 2, 3, 1)
    with torch.no_grad():
        unit = model(small.contiguous())[:, None].float()
    relative: np.ndarray = resize_back(unit, (height, width))[0, 0].cpu().numpy()
    return relative


def score_frame(relative: np.ndarray, sample: 'TrainingSample', limits: AlignmentLimits,
                seed: int) -> tuple[dict[str, float], bool] | None:
    """(the frame's metrics against its held-out returns and dense truth if any, whether the node would
    publish the fit); None when no line with a positive scale fits."""
    sparse = np.asarray(sample.sparse_depth, np.float32)
    held = held_out(sparse, sample.stamp_ns, seed)
    fit_depth = np.where(held, np.nan, sparse).astype(np.float32)
    record = fit_to_sparse_depth(relative, Space.SQRT_DISPARITY, fit_depth, min_depth=limits.min_depth,
                                 max_depth=limits.max_depth, min_points=limits.min_points, method=limits.method,
                                 seed=seed)
    if not (np.isfinite(record.scale) and np.isfinite(record.shift) and record.scale > 0):
        return None
    scale, shift = record.scale_shift() if record.ok else (record.scale, record.shift)
    metres = apply_alignment(relative, Space.SQRT_DISPARITY, scale, shift, limits.min_depth, limits.max_depth)
    scored = held & np.isfinite(metres) & (sparse > limits.min_depth) & (sparse < limits.max_depth)
    row = {key: image_metrics(metres, sparse, scored)[key] for key in SCORED_KEYS}
    if sample.dense_depth is not None:
        dense = np.asarray(sample.dense_depth, np.float32)
        valid = np.isfinite(dense) & (dense > limits.min_depth) & (dense < limits.max_depth) & np.isfinite(metres)
        row.update({f'dense_{key}': value for key, value in image_metrics(metres, dense, valid).items()
                    if key in SCORED_KEYS})
    return row, record.ok


def held_out_scores(model: 'TrainableDepthMaster', samples: Sequence['TrainingSample'], res: int,
                    limits: AlignmentLimits = AlignmentLimits(), seed: int = 0) -> dict[str, float]:
    """Mean metrics over the frames: rmse_m, abs_rel, mae_m, delta1 (and dense_*), frames, refused (share), unfitted."""
    was_training = model.training
    model.eval()
    rows, refused, unfitted = [], 0, 0
    try:
        for sample in samples:
            scored = score_frame(predict_relative(model, sample.image, res), sample, limits, seed)
            if scored is None:
                unfitted += 1
                continue
            rows.append(scored[0])
            refused += not scored[1]
    finally:
        model.train(was_training)
    keys = tuple(sorted({key for row in rows for key in row}))
    means = mean_metrics(rows, keys)
    named = {key.replace('rmse', 'rmse_m').replace('mae', 'mae_m'): value for key, value in means.items()}
    return {**named, 'frames': len(rows), 'refused': refused / max(len(rows), 1), 'unfitted': unfitted}
