"""What a bag run did: frame counts and skip reasons, alignment health, time per stage, accuracy vs GT.

One `BagSummary`, built once by `build_summary`: the CLI prints it, `as_json` writes the --summary
file (and is what tests and users read), the fleet reads its fields.
"""
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmaster_ros.geometry import DepthErrors, mean_errors
from depthmaster_ros.model import weights_line
from depthmaster_ros.pipeline import FaultCounters

if TYPE_CHECKING:
    from depthmaster_ros.pipeline import FrameOutput


_REASONS_SHOWN = 3           # the most frequent reasons for frames without metres, in the printed summary


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


@dataclass(frozen=True)
class MeanMedian:
    mean: float
    median: float


def _mean_median(values: Iterable[float | None], factor: float = 1.0) -> MeanMedian | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    if not kept:
        return None
    return MeanMedian(float(np.mean(kept)) * factor, float(np.median(kept)) * factor)


@dataclass(frozen=True)
class Occurrences:
    """How often one kind (a skip reason, a fault) happened, and the last message about it."""
    count: int
    last_message: str


def _not_ok_reasons(records: list) -> dict[str, Occurrences]:
    """The reasons of the frames without metres, most frequent first; reasons that differ only in their
    numbers (a stamp, a count) are one reason, shown by its last text."""
    found: dict[str, Occurrences] = {}
    for record in records:
        if not record.ok:
            key = re.sub(r'\d+(\.\d+)?', '#', record.reason or 'no reason given')
            count = found[key].count if key in found else 0
            found[key] = Occurrences(count + 1, record.reason or 'no reason given')
    return dict(sorted(found.items(), key=lambda item: -item[1].count))


def _occurrences(counter: FaultCounters) -> dict[str, Occurrences]:
    messages = counter.last_messages()
    return {kind: Occurrences(count, messages[kind]) for kind, count in counter.counts().items()}


@dataclass(frozen=True)
class FrameCounts:
    in_window: int                           # image messages inside the time window ('in')
    selected: int                            # of those, kept by --every
    out: int                                 # written
    skip_reasons: dict[str, Occurrences]     # selected frames not written, by reason

    @property
    def skipped(self) -> int:
        return sum(info.count for info in self.skip_reasons.values())


@dataclass(frozen=True)
class AlignmentStats:
    ok_ratio: float | None                   # None when no frame was written
    held_ratio: float | None
    scale: MeanMedian | None                 # over the frames whose fit was ok
    shift: MeanMedian | None
    num_inliers: MeanMedian | None
    rmse_m: MeanMedian | None
    not_ok_reasons: dict[str, Occurrences] = field(default_factory=dict)   # why frames had no metres, most first


@dataclass(frozen=True)
class RecordingSize:
    size_mb: float
    duration_s: float                        # first to last message, log time
    mb_per_s: float | None                   # None for a recording of one instant


def recording_size(size_bytes: int, first_log_ns: int, last_log_ns: int) -> RecordingSize:
    """The output's size, and its size per second of recording (first to last message, in log time)."""
    span_s = (last_log_ns - first_log_ns) / 1e9 if last_log_ns >= first_log_ns else 0.0
    size_mb = size_bytes / 1e6
    return RecordingSize(size_mb, span_s, size_mb / span_s if span_s > 0 else None)


@dataclass
class BagSummary:
    """One bag run; `as_json` is the --summary file's layout (and what the CLI prints from)."""
    label: str
    input: str
    output: str
    storage: str
    compression: str
    recording: RecordingSize
    interrupted: bool
    model: dict[str, Any]                    # backend, model, weights, device, dtype, processing_res, alignment_mode
    topics: dict[str, str | None]            # input role -> topic
    output_topics: dict[str, str]
    frames: FrameCounts
    faults: dict[str, Occurrences]           # other inputs that were unusable
    warnings: dict[str, int]                 # written frames' warnings, by kind
    alignment: AlignmentStats
    timing_ms: dict[str, MeanMedian]         # stage -> milliseconds per frame
    ground_truth: dict[str, float] | None    # mean errors against ground truth, when the bag has it
    wall_time_s: float
    frames_per_s: float | None
    contact_sheet: str | None = None
    cameras: dict[str, dict[str, Any]] = field(default_factory=dict)   # a ring's cameras: topics, namespace, frames

    def as_json(self) -> dict[str, Any]:
        line = asdict(self)
        line['frames'] = {'in': self.frames.in_window, 'selected': self.frames.selected, 'out': self.frames.out,
                          'skipped': self.frames.skipped, 'skip_reasons': line['frames']['skip_reasons']}
        if self.contact_sheet is None:
            del line['contact_sheet']
        if not self.cameras:
            del line['cameras']
        return line


def build_summary(stats: BagStats, *, run: dict[str, Any], model: dict[str, Any], topics: dict[str, Any],
                  output_topics: dict[str, str], interrupted: bool, wall_s: float,
                  cameras: dict[str, dict[str, Any]] | None = None) -> BagSummary:
    """The summary; ``run`` holds label, input, output, storage, compression and recording, ``model``
    describes the model, ``cameras`` a ring's cameras (`camera_ring.camera_summaries`)."""
    records = stats.records
    ok = [r for r in records if r.ok]
    timing_ms = {stage: stat for stage, seconds in stats.timings.items()
                 if (stat := _mean_median(seconds, 1000.0)) is not None}
    return BagSummary(
        **run, interrupted=interrupted, model=model, topics=topics, output_topics=output_topics,
        frames=FrameCounts(stats.frames_in, stats.frames_selected, stats.frames_out, _occurrences(stats.skipped)),
        faults=_occurrences(stats.faults),
        warnings=stats.warnings.counts(),
        alignment=AlignmentStats(
            ok_ratio=len(ok) / len(records) if records else None,
            held_ratio=sum(r.held for r in records) / len(records) if records else None,
            scale=_mean_median([r.scale for r in ok]), shift=_mean_median([r.shift for r in ok]),
            num_inliers=_mean_median([r.num_inliers for r in ok]), rmse_m=_mean_median([r.rmse_m for r in ok]),
            not_ok_reasons=_not_ok_reasons(records)),
        timing_ms=timing_ms,
        ground_truth=mean_errors(stats.gt_errors),
        wall_time_s=wall_s,
        frames_per_s=stats.frames_out / wall_s if wall_s > 0 else None,
        cameras=cameras or {},
    )


def format_summary(summary: BagSummary) -> str:
    """The summary as a few human-readable lines."""
    frames, model, alignment = summary.frames, summary.model, summary.alignment
    lines = [f'*** {summary.label} ***'] if summary.label else []
    lines.append(f'{summary.input} -> {summary.output} ({summary.storage})'
                 + ('  [INTERRUPTED: partial output]' if summary.interrupted else ''))
    recording = summary.recording
    if recording:
        rate = f', {recording.mb_per_s:.1f} MB per second of recording' if recording.mb_per_s else ''
        lines.append(f'output: {recording.size_mb:.1f} MB, {summary.compression} compression{rate} '
                     f'({recording.duration_s:.1f} s)')
    lines.append(f'model: {model["backend"]} {model["model"]} on {model["device"]} {model["dtype"]}, '
                 f'processing_res {model["processing_res"]}, alignment {model["alignment_mode"]}')
    if model.get('weights'):
        lines.append(weights_line(model['weights']))
    lines.append(f'frames: {frames.in_window} in window, {frames.selected} selected, {frames.out} written, '
                 f'{frames.skipped} skipped')
    for kind, info in frames.skip_reasons.items():
        lines.append(f'  skipped {info.count} x {kind}: {info.last_message}')
    for name, camera in summary.cameras.items():
        counts = camera['frames']
        lines.append(f'  camera {name} ({camera["topics"]["image"]} -> {camera["output_namespace"]}): {counts["in"]} in '
                     f'window, {counts["selected"]} selected, {counts["out"]} written, {counts["skipped"]} skipped')
    for kind, info in summary.faults.items():
        lines.append(f'  fault {info.count} x {kind}: {info.last_message}')
    if alignment.ok_ratio is not None:
        line = f'alignment ok {alignment.ok_ratio:.0%}'
        for name in ('scale', 'shift', 'num_inliers', 'rmse_m'):
            stat = getattr(alignment, name)
            if stat:
                line += f', {name} {stat.mean:.4g} (median {stat.median:.4g})'
        lines.append(line)
        for info in list(alignment.not_ok_reasons.values())[:_REASONS_SHOWN]:
            lines.append(f'  not ok {info.count} x: {info.last_message}')
    if summary.timing_ms:
        lines.append('time per frame, ms (mean / median): ' + ', '.join(
            f'{stage} {t.mean:.1f}/{t.median:.1f}' for stage, t in summary.timing_ms.items()
            if not stage.startswith('model.')))
    gt = summary.ground_truth
    if gt:
        lines.append(f'vs ground truth ({gt["frames"]} frames): AbsRel {gt["abs_rel"]:.4f}, '
                     f'delta1 {gt["delta1"]:.4f}, RMSE {gt["rmse_m"]:.3f} m, coverage {gt["coverage"]:.1%}')
    if summary.frames_per_s:
        lines.append(f'{summary.frames_per_s:.2f} frames/s over {summary.wall_time_s:.1f} s')
    return '\n'.join(lines)
