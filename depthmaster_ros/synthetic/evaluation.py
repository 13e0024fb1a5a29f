"""How well LiDAR and ground-plane alignment recover metres, measured on synthetic frames.

One implementation of the experiments, shared by the accuracy tests and tools/alignment_report.py:
- LiDAR alignment AbsRel against the oracle (plain least squares on every ground-truth pixel, in the
  same space, on the same fake prediction), i.e. the best any scale-and-shift fit could do;
- the share of occlusion see-through LiDAR points that the occlusion filter removes (a projected point
  is see-through when it lies clearly behind the true surface at its pixel);
- the scale error of ground-plane alignment: median of aligned / true depth, minus one.
"""
from dataclasses import dataclass

import numpy as np

from depthmaster_ros.alignment import (
    AlignmentRecord,
    SparseDepthResult,
    apply_alignment,
    least_squares_scale_shift,
    metric_depth_from_sparse,
    project_to_sparse_depth,
    select_floor,
    to_space,
)
from depthmaster_ros.geometry import depth_errors
from depthmaster_ros.synthetic.scene import SceneFrame, fake_prediction

SEE_THROUGH_REL = 0.1


def see_through_mask(sparse_depth: np.ndarray, gt_depth: np.ndarray, rel_threshold: float = SEE_THROUGH_REL) -> np.ndarray:
    """Sparse depth pixels clearly behind the true surface at that pixel (seen only by the LiDAR)."""
    with np.errstate(invalid='ignore'):
        return np.isfinite(sparse_depth) & np.isfinite(gt_depth) & (sparse_depth > (1 + rel_threshold) * gt_depth)


def lidar_sparse_depth(frame: SceneFrame, occlusion_window: int) -> SparseDepthResult:
    return project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, frame.camera.width,
                                   frame.camera.height, occlusion_window=occlusion_window)


@dataclass
class SeeThroughCount:
    see_through: int         # see-through pixels without the filter
    kept: int                # see-through pixels the filter let through
    good_removed: int        # pixels the filter removed that were not see-through
    total: int               # sparse pixels without the filter

    @property
    def removed_fraction(self) -> float:
        return 1.0 - self.kept / self.see_through if self.see_through else float('nan')


def count_see_through(frame: SceneFrame, occlusion_window: int) -> SeeThroughCount:
    raw = lidar_sparse_depth(frame, occlusion_window=1).depth
    filtered = lidar_sparse_depth(frame, occlusion_window).depth
    raw_bad = see_through_mask(raw, frame.depth)
    removed = np.isfinite(raw) & ~np.isfinite(filtered)
    return SeeThroughCount(see_through=int(raw_bad.sum()), kept=int(see_through_mask(filtered, frame.depth).sum()),
                           good_removed=int((removed & ~raw_bad).sum()), total=int(np.isfinite(raw).sum()))


def oracle_metric(prediction: np.ndarray, space: str, gt_depth: np.ndarray) -> np.ndarray:
    """Least squares on every valid ground-truth pixel, in the prediction's space."""
    valid = np.isfinite(gt_depth) & np.isfinite(prediction)
    scale, shift = least_squares_scale_shift(prediction[valid].astype(np.float64), to_space(gt_depth[valid], space))
    return apply_alignment(prediction, space, scale, shift)


@dataclass
class LidarAccuracy:
    abs_rel: float
    oracle_abs_rel: float
    coverage: float          # share of image pixels with a LiDAR sample after filtering
    result: AlignmentRecord

    @property
    def ratio(self) -> float:
        return self.abs_rel / self.oracle_abs_rel


def lidar_alignment_accuracy(frame: SceneFrame, space: str, seed: int = 0, occlusion_window: int = 15) -> LidarAccuracy:
    prediction = fake_prediction(frame.depth, space, np.random.default_rng(seed))
    sparse = lidar_sparse_depth(frame, occlusion_window).depth
    metric, result = metric_depth_from_sparse(prediction, space, sparse)
    oracle = oracle_metric(prediction, space, frame.depth)
    return LidarAccuracy(abs_rel=depth_errors(metric, frame.depth).abs_rel,
                         oracle_abs_rel=depth_errors(oracle, frame.depth).abs_rel,
                         coverage=float(np.isfinite(sparse).mean()), result=result)


def ground_plane_scale_error(frame: SceneFrame, space: str, seed: int = 0,
                             max_depth: float = 10.0) -> tuple[float, AlignmentRecord]:
    """median(aligned / true depth) - 1 after fitting to the floor the prediction shows (also for a refused fit)."""
    prediction = fake_prediction(frame.depth, space, np.random.default_rng(seed))
    selection = select_floor(prediction, space, frame.camera, frame.camera_to_base, max_depth)
    metric, result = metric_depth_from_sparse(prediction, space, selection.depth, sample_pixels=selection.pixels,
                                              start=selection.fit_start)
    result.floor_share = selection.floor_share
    if not result.ok:       # a refused fit is judged too: what would it have published?
        metric = apply_alignment(prediction, space, result.scale, result.shift)
    with np.errstate(invalid='ignore'):
        ratio = metric / frame.depth
    if not np.any(np.isfinite(ratio)):
        return float('nan'), result
    return float(np.nanmedian(ratio) - 1.0), result
