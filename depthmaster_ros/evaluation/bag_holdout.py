"""What the metres are worth on a robot's own recording, without dense ground truth: LiDAR holdout.

Part of every LiDAR scan is held out (`lines:5`, every fifth scan line; or `20%`, that share of the
returns, drawn per scan with a fixed seed). The bag is replayed by the bag tool's own replay
(`bag.replay.process_bag`, the node's pipeline, temporal filter included) with the rest of each scan
as the cloud, so the metres are made exactly as the node would make them from that cloud. Each
frame's held-out returns are then moved into the camera (the same transform lookup as the LiDAR
mode) and projected with the same projection; a return counts where it is the nearest at its pixel
and the occlusion filter keeps it among all returns of its scan (as it judges the fit's samples).
The published depth at their pixels is scored against them, per frame and per distance band.

Scan lines are found from the elevation angle of the returns in the cloud's own frame (a spinning
LiDAR's beams each keep one elevation): sorted elevations split into lines wherever neighbours are
more than LINE_GAP_DEG apart.
"""
from dataclasses import dataclass, field
from functools import partial
import math
from pathlib import Path
import tempfile
from typing import Any

import numpy as np

from depthmaster_ros.alignment import project_to_sparse_depth
from depthmaster_ros.alignment.modes import SampleRequest, lidar_to_camera
from depthmaster_ros.geometry import StampedCloud

from .errors import EvaluationError
from .metrics import METRIC_KEYS, image_metrics, mean_metrics

LINE_GAP_DEG = 0.1
HELD_SCANS = 64
DEFAULT_BANDS = (0.0, 2.0, 5.0, 10.0, 20.0, 40.0, math.inf)


def scan_lines(points: np.ndarray) -> np.ndarray:
    """The scan line of each return, numbered from the lowest elevation up."""
    if len(points) == 0:
        return np.zeros(0, np.int64)
    points = np.asarray(points, np.float64)
    elevation = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    order = np.argsort(elevation, kind='stable')
    starts = np.concatenate([[0], np.diff(elevation[order]) > LINE_GAP_DEG]).cumsum()
    lines = np.empty(len(points), np.int64)
    lines[order] = starts
    return lines


@dataclass(frozen=True)
class Holdout:
    """Which returns of a scan are held out: every `every`-th scan line, or a `share` of the returns."""
    every: int = 0
    share: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> 'Holdout':
        """'lines:N' (every Nth scan line), 'P%' or a fraction in (0, 1) (that share of the returns)."""
        value = text.strip()
        try:
            if value.startswith('lines:'):
                every = int(value.split(':', 1)[1])
                if every >= 2:
                    return cls(every=every, seed=seed)
            else:
                share = float(value[:-1]) / 100 if value.endswith('%') else float(value)
                if 0 < share < 1:
                    return cls(share=share, seed=seed)
        except ValueError:
            pass
        raise EvaluationError(f'--holdout: expected lines:N (N >= 2) or a share such as 20% or 0.2, got {text!r}')

    def describe(self) -> str:
        return f'every {self.every}th scan line' if self.every else f'{100 * self.share:g} % of the returns'

    def held_mask(self, cloud: StampedCloud) -> np.ndarray:
        if self.every:
            return scan_lines(cloud.points) % self.every == 0
        rng = np.random.default_rng([self.seed, int(cloud.stamp_ns)])
        return rng.random(len(cloud.points)) < self.share


@dataclass
class HoldoutScores:
    """Held-out returns compared with the published metres, per frame and pooled per distance band."""
    holdout: Holdout
    settings: Any                               # the node's alignment settings (projection, occlusion filter)
    bands: tuple[float, ...] = DEFAULT_BANDS
    held: dict[tuple[str, int], tuple[StampedCloud, np.ndarray]] = field(default_factory=dict)
    frames: list[dict[str, Any]] = field(default_factory=list)
    band_pairs: list[list[np.ndarray]] = field(default_factory=list)
    frames_without_metres: int = 0
    returns_without_metres: int = 0

    def split(self, cloud: StampedCloud) -> StampedCloud:
        """The part of a scan the pipeline fits to; the whole scan and its held-out mask are kept for the score."""
        held = self.holdout.held_mask(cloud)
        self.held[(cloud.frame_id, cloud.stamp_ns)] = (cloud, held)
        while len(self.held) > HELD_SCANS:          # as many as the replay keeps clouds for pairing
            self.held.pop(next(iter(self.held)))
        return StampedCloud(cloud.points[~held], cloud.frame_id, cloud.stamp_ns)

    def frame_done(self, frame: Any, output: Any) -> None:
        """Score one processed frame (FrameInput, FrameOutput) against its cloud's held-out returns."""
        if frame.cloud is None or output.camera is None:
            return
        scan, held = self.held.get((frame.cloud.frame_id, frame.cloud.stamp_ns), (None, None))
        if scan is None or held is None or not held.any():
            return
        request = SampleRequest(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, camera=output.camera,
                                cloud=scan, cloud_miss_reason='', transforms=frame.transforms, settings=self.settings)
        transform, _ = lidar_to_camera(request)
        if transform is None:
            return
        pixels, gt = self._truth(transform.apply(np.asarray(scan.points, np.float64)), held, output.camera)
        if output.depth_m is None:
            self.frames_without_metres += 1
            self.returns_without_metres += len(gt)
            return
        pred = np.asarray(output.depth_m, np.float32).ravel()[pixels]
        scored = np.isfinite(pred) & (pred > 0)
        self.returns_without_metres += int((~scored).sum())
        row = image_metrics(pred, gt, scored)
        self.frames.append({'name': f'{frame.stamp_ns * 1e-9:.3f}',
                            **{key: row[key] for key in METRIC_KEYS}, 'returns': int(scored.sum())})
        self.band_pairs.append([pred[scored], gt[scored]])

    def _truth(self, points_cam: np.ndarray, held: np.ndarray, camera: Any) -> tuple[np.ndarray, np.ndarray]:
        """(pixels, depth) of the held-out returns that the occlusion filter keeps in the whole scan.

        The filter judges each return against its neighbours in the scan, as for the fit's samples; a
        held-out return counts where it is the nearest return at its pixel and survives that filter.
        """
        settings = self.settings
        project = partial(project_to_sparse_depth, camera=camera, out_width=camera.width, out_height=camera.height,
                          min_depth=settings.min_depth, max_depth=settings.max_depth,
                          occlusion_rel_threshold=settings.occlusion_rel_threshold)
        whole = project(points_cam, occlusion_window=settings.occlusion_window_px).depth.ravel()
        own = project(points_cam[held], occlusion_window=1)
        depth = own.depth.ravel()[own.pixels]
        kept = whole[own.pixels] == depth
        return own.pixels[kept], depth[kept]

    def band_table(self) -> list[tuple[str, dict[str, float]]]:
        """Metrics over every scored return whose held-out depth falls in each band, and over all."""
        pred = np.concatenate([p for p, _ in self.band_pairs]) if self.band_pairs else np.zeros(0)
        gt = np.concatenate([g for _, g in self.band_pairs]) if self.band_pairs else np.zeros(0)
        rows = []
        for low, high in zip(self.bands[:-1], self.bands[1:]):
            inside = (gt >= low) & (gt < high)
            if inside.any():
                rows.append((f'{low:g}-{high:g} m', {**image_metrics(pred, gt, inside), 'returns': int(inside.sum())}))
        rows.append(('all', {**image_metrics(pred, gt, np.ones(len(gt), bool)), 'returns': len(gt)}))
        return rows

    def as_json(self, bag: str) -> dict[str, Any]:
        return {'dataset': 'bag', 'bag': bag, 'protocol': f'lidar holdout ({self.holdout.describe()})',
                'metrics': mean_metrics(self.frames, METRIC_KEYS), 'images': self.frames,
                'bands': {label: values for label, values in self.band_table()},
                'frames_without_metres': self.frames_without_metres,
                'returns_without_metres': self.returns_without_metres}


def evaluate_bag(bag: str | Path, estimator: Any, config: Any, holdout: Holdout, *, limit: int | None = None,
                 progress: bool = False, bands: tuple[float, ...] = DEFAULT_BANDS,
                 options: Any = None) -> HoldoutScores:
    """Replay `bag` through the node's pipeline with part of the LiDAR held out; the scores of its metres.

    config must use the LiDAR alignment mode; `options` are further BagOptions (topics, window).
    """
    from dataclasses import replace

    from depthmaster_ros.bag import BagOptions, process_bag
    if config.alignment.alignment_mode != 'lidar':
        raise EvaluationError(f'bag holdout: alignment_mode must be lidar, got {config.alignment.alignment_mode!r}')
    scores = HoldoutScores(holdout, config.alignment, bands)
    base = options or BagOptions()
    frames = {'count': 0}

    def stop_requested() -> bool:
        return limit is not None and frames['count'] >= limit

    def frame_done(frame: Any, output: Any) -> None:
        frames['count'] += 1
        scores.frame_done(frame, output)

    run_options = replace(base, progress=progress, cloud_filter=scores.split, frame_output=frame_done)
    with tempfile.TemporaryDirectory() as scratch:
        process_bag(bag, Path(scratch) / 'replayed.mcap', estimator, config, run_options,
                    stop_requested=stop_requested)
    return scores
