"""What a bag run did: frame counts and skip reasons, alignment health, time per stage, accuracy vs GT.

Kept as one plain dict so that the same numbers are printed, written as JSON and read by tests.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field
import math
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmaster_ros.geometry.metrics import DepthErrors, mean_errors
from depthmaster_ros.model.provenance import weights_line
from depthmaster_ros.pipeline.faults import FaultCounters

if TYPE_CHECKING:
    from depthmaster_ros.pipeline.frames import FrameOutput


def _counter():
    return FaultCounters(throttle_s=math.inf)


@dataclass
class BagStats:
    frames_in: int = 0            # image messages inside the time window
    frames_selected: int = 0      # of those, kept by --every
    frames_out: int = 0
    skipped: FaultCounters = field(default_factory=_counter)    # selected frames not written, by reason
    faults: FaultCounters = field(default_factory=_counter)     # other inputs that were unusable
    warnings: FaultCounters = field(default_factory=_counter)
    records: list = field(default_factory=list)                 # AlignmentRecord per written frame
    timings: dict = field(default_factory=dict)                 # stage -> [seconds]
    gt_errors: list = field(default_factory=list)               # DepthErrors per frame with GT

    def frame_written(self, output: 'FrameOutput', timings: Mapping[str, float],
                      gt_errors: DepthErrors | None = None) -> None:
        self.frames_out += 1
        self.records.append(output.record)
        for warning in output.warnings:
            self.warnings.record(warning.kind, warning.text)
        for stage, seconds in timings.items():
            self.timings.setdefault(stage, []).append(seconds)
        if gt_errors is not None:
            self.gt_errors.append(gt_errors)


def _mean_median(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    return {'mean': float(np.mean(values)), 'median': float(np.median(values))}


def _with_messages(counter):
    messages = counter.last_messages()
    return {kind: {'count': count, 'last_message': messages[kind]} for kind, count in counter.counts().items()}


def recording_size(size_bytes: int, first_log_ns: int, last_log_ns: int) -> dict:
    """The output's size, and its size per second of recording (first to last message, in log time)."""
    span_s = (last_log_ns - first_log_ns) / 1e9 if last_log_ns >= first_log_ns else 0.0
    size_mb = size_bytes / 1e6
    return {'size_mb': size_mb, 'duration_s': span_s, 'mb_per_s': size_mb / span_s if span_s > 0 else None}


def build_summary(stats: BagStats, *, run: dict[str, Any], model: dict[str, Any], topics: dict[str, Any],
                  output_topics: dict[str, str], interrupted: bool, wall_s: float) -> dict[str, Any]:
    """The summary dict; ``run`` and ``model`` are small dicts describing the run and the model."""
    records = stats.records
    ok = [r for r in records if r.ok]
    skipped = _with_messages(stats.skipped)
    timing_ms = {}
    for stage, seconds in stats.timings.items():
        stat = _mean_median(seconds)
        if stat:
            timing_ms[stage] = {name: value * 1000.0 for name, value in stat.items()}
    return {
        **run,
        'interrupted': interrupted,
        'model': model,
        'topics': topics,
        'output_topics': output_topics,
        'frames': {
            'in': stats.frames_in,
            'selected': stats.frames_selected,
            'out': stats.frames_out,
            'skipped': sum(info['count'] for info in skipped.values()),
            'skip_reasons': skipped,
        },
        'faults': _with_messages(stats.faults),
        'warnings': stats.warnings.counts(),
        'alignment': {
            'ok_ratio': len(ok) / len(records) if records else None,
            'held_ratio': sum(r.held for r in records) / len(records) if records else None,
            'scale': _mean_median([r.scale for r in ok]),
            'shift': _mean_median([r.shift for r in ok]),
            'num_inliers': _mean_median([r.num_inliers for r in ok]),
            'rmse_m': _mean_median([r.rmse_m for r in ok]),
        },
        'timing_ms': timing_ms,
        'ground_truth': mean_errors(stats.gt_errors),
        'wall_time_s': wall_s,
        'frames_per_s': stats.frames_out / wall_s if wall_s > 0 else None,
    }


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as a few human-readable lines."""
    frames, model, alignment = summary['frames'], summary['model'], summary['alignment']
    lines = [f'*** {summary["label"]} ***'] if summary.get('label') else []
    lines.append(f'{summary["input"]} -> {summary["output"]} ({summary["storage"]})'
                 + ('  [INTERRUPTED: partial output]' if summary['interrupted'] else ''))
    recording = summary.get('recording')
    if recording:
        rate = f', {recording["mb_per_s"]:.1f} MB per second of recording' if recording['mb_per_s'] else ''
        lines.append(f'output: {recording["size_mb"]:.1f} MB, {summary["compression"]} compression{rate} '
                     f'({recording["duration_s"]:.1f} s)')
    lines.append(f'model: {model["backend"]} {model["model"]} on {model["device"]} {model["dtype"]}, '
                 f'processing_res {model["processing_res"]}, alignment {model["alignment_mode"]}')
    if model.get('weights'):
        lines.append(weights_line(model['weights']))
    lines.append(f'frames: {frames["in"]} in window, {frames["selected"]} selected, {frames["out"]} written, '
                 f'{frames["skipped"]} skipped')
    for kind, info in frames['skip_reasons'].items():
        lines.append(f'  skipped {info["count"]} x {kind}: {info["last_message"]}')
    for kind, info in summary['faults'].items():
        lines.append(f'  fault {info["count"]} x {kind}: {info["last_message"]}')
    if alignment['ok_ratio'] is not None:
        line = f'alignment ok {alignment["ok_ratio"]:.0%}'
        for name in ('scale', 'shift', 'num_inliers', 'rmse_m'):
            if alignment[name]:
                line += f', {name} {alignment[name]["mean"]:.4g} (median {alignment[name]["median"]:.4g})'
        lines.append(line)
    if summary['timing_ms']:
        lines.append('time per frame, ms (mean / median): ' + ', '.join(
            f'{stage} {t["mean"]:.1f}/{t["median"]:.1f}' for stage, t in summary['timing_ms'].items()
            if not stage.startswith('model.')))
    gt = summary['ground_truth']
    if gt:
        lines.append(f'vs ground truth ({gt["frames"]} frames): AbsRel {gt["abs_rel"]:.4f}, '
                     f'delta1 {gt["delta1"]:.4f}, RMSE {gt["rmse_m"]:.3f} m, coverage {gt["coverage"]:.1%}')
    if summary.get('frames_per_s'):
        lines.append(f'{summary["frames_per_s"]:.2f} frames/s over {summary["wall_time_s"]:.1f} s')
    return '\n'.join(lines)
