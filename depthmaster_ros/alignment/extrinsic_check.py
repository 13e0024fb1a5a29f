"""Is the LiDAR where the extrinsic says? Residuals that follow image position give it away.

A wrong LiDAR-to-camera rotation (or a stamp offset while the robot turns or pitches) moves every
projected sample by about the same number of pixels, so the samples agree best with the prediction
somewhere else. The check moves the sample positions by whole pixels along rows and columns, fits a
line at each offset and scores it by the median absolute residual; an offset that clearly beats
none is reported as a pitch (rows) or yaw (columns) error. It is cheap: a subset of the samples and
a few dozen least-squares lines.
"""
from dataclasses import dataclass

import numpy as np

SEARCH_PX = 24                  # largest offset tried, pixels, each way
STEP_PX = 4
MIN_OFFSET_PX = 3               # smaller offsets are within projection and scan noise
IMPROVEMENT = 0.75              # the best offset's score must be below this share of the score at none
MAX_SAMPLES = 800
AXIS_GAIN = 0.95                # an axis offset counts only when it lowers the score at least this much


@dataclass
class ExtrinsicEstimate:
    rows_px: int = 0            # samples fit best this many rows down (pitch)
    cols_px: int = 0            # and this many columns right (yaw)
    improvement: float = 1.0    # best score / score at no offset

    @property
    def suspicious(self) -> bool:
        return max(abs(self.rows_px), abs(self.cols_px)) >= MIN_OFFSET_PX and self.improvement < IMPROVEMENT


def _score(pred, target):
    """Median absolute residual of the least-squares line (inf without spread)."""
    p, t = pred - pred.mean(), target - target.mean()
    var = float(p @ p)
    if not var > 0:
        return np.inf
    return float(np.median(np.abs(t - (float(p @ t) / var) * p)))


def estimate_offset(relative: np.ndarray, index: np.ndarray, target: np.ndarray, seed: int = 0) -> ExtrinsicEstimate:
    """The pixel offset (rows, cols) at which the samples agree best with the relative map."""
    height, width = relative.shape
    if len(index) > MAX_SAMPLES:
        pick = np.random.default_rng(seed).choice(len(index), MAX_SAMPLES, replace=False)
        index, target = index[pick], target[pick]
    rows, cols = index // width, index % width
    flat = relative.ravel()

    def score_at(dr, dc):
        r, c = rows + dr, cols + dc
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        pred = flat[r[inside] * width + c[inside]].astype(np.float64)
        keep = np.isfinite(pred)
        return _score(pred[keep], target[inside][keep]) if keep.sum() > 20 else np.inf

    base = score_at(0, 0)
    if not np.isfinite(base) or base <= 0:
        return ExtrinsicEstimate()
    offsets = sorted(range(-SEARCH_PX, SEARCH_PX + 1, STEP_PX), key=abs)    # ties go to the smaller offset
    best_rows = min(offsets, key=lambda d: score_at(d, 0))
    best_cols = min(offsets, key=lambda d: score_at(best_rows, d))
    if not score_at(best_rows, best_cols) < AXIS_GAIN * score_at(best_rows, 0):
        best_cols = 0                                   # columns do not matter (or barely)
    if not score_at(best_rows, 0) < AXIS_GAIN * base:
        best_rows = 0
    best = score_at(best_rows, best_cols)
    return ExtrinsicEstimate(int(best_rows), int(best_cols), float(best / base))
