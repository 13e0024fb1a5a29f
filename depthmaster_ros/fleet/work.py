"""One bag, in whichever process runs it: `process_bag` with the batch's settings, turned into a record.

Every executor calls `process_one`, so the messages a batch writes for a bag are those of
``depthmaster-ros bag`` on it with the same parameters: the same function, config and options; only
the progress bar, label and overwrite flag differ, and none of them reaches the output bytes.
"""
from collections.abc import Callable
import dataclasses
from datetime import UTC, datetime
import os
from pathlib import Path
import socket
import time
from typing import TYPE_CHECKING, Any

from depthmaster_ros.bag import remove_path
from depthmaster_ros.config import Config
from depthmaster_ros.model import Estimator, weights_line

from .errors import FleetStateError
from .inputs import BagJob
from .manifest import DONE, FAILED, INTERRUPTED, BagOutcome, ManifestRecord

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec='milliseconds')


def remove_stale_partials(output: str | Path) -> list[str]:
    """Delete what a killed earlier attempt left beside OUTPUT (its hidden partial bag), so retries start clean."""
    output = Path(output)
    if not output.parent.is_dir():
        return []
    stale = sorted(output.parent.glob(f'.{output.name}.partial-*'))
    for path in stale:
        remove_path(path)
    return [str(path) for path in stale]


def output_root(job: BagJob) -> Path:
    """The batch's --out directory: the job's output less its name."""
    return Path(job.output).parents[len(Path(job.name).parts) - 1]


def loaded(estimator: Estimator | None) -> Estimator:
    """The executor's estimator, which its start loads before any bag runs."""
    if estimator is None:
        raise FleetStateError('the executor runs bags only after start() has loaded the model')
    return estimator


def failed_record(job: BagJob, run_hash: dict[str, str], attempt: int, reason: str, **details: Any) -> ManifestRecord:
    """A ``failed`` attempt at JOB, finished now; details are ManifestRecord's optional fields."""
    return ManifestRecord(job.name, job.input, job.output, run_hash, attempt, FAILED, utc_now(), reason=reason,
                          **details)


def process_one(job: BagJob, estimator: Estimator, config: Config, options: 'BagOptions', run_hash: dict[str, str],
                attempt: int = 1, frame_done: Callable[[], None] | None = None) -> ManifestRecord:
    """Process one bag; any error of this bag becomes a ``failed`` record instead of ending the batch."""
    from depthmaster_ros.bag import process_bag

    attempt_details: dict[str, Any] = {'worker': {'host': socket.gethostname(), 'pid': os.getpid()},
                                       'started_at': utc_now(), 'removed_partials': remove_stale_partials(job.output) or None}
    bag_options = dataclasses.replace(options, force=True, progress=False, contact_sheet=None,
                                      label=options.label or job.name, frame_done=frame_done,
                                      output_root=str(output_root(job)))
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        summary = process_bag(job.input, job.output, estimator, config, bag_options)
    except Exception as error:  # noqa: BLE001 - a bag that cannot be processed is recorded, the batch goes on
        return failed_record(job, run_hash, attempt, f'{type(error).__name__}: {error}',
                             timings={'wall_s': time.perf_counter() - started}, **attempt_details)
    frames = summary.frames
    outcome = BagOutcome(
        frames={'in': frames.in_window, 'selected': frames.selected, 'out': frames.out},
        skips={kind: info.count for kind, info in frames.skip_reasons.items()},
        faults={kind: info.count for kind, info in summary.faults.items()},
        alignment_ok_ratio=summary.alignment.ok_ratio, device=summary.model['device'],
        torch_threads=_torch_threads(), weights=weights_line(summary.model['weights']),
        random_weights=bool(summary.model['weights'].get('random')),
        cameras={name: {key: camera['frames'][key] for key in ('in', 'selected', 'out')}
                 for name, camera in summary.cameras.items()} or None)
    timings = {'wall_s': time.perf_counter() - started, 'cpu_s': time.process_time() - cpu_started,
               'frames_per_s': summary.frames_per_s,
               'per_frame_ms': {stage: round(t.mean, 3) for stage, t in summary.timing_ms.items()}}
    return ManifestRecord(job.name, job.input, job.output, run_hash, attempt,
                          INTERRUPTED if summary.interrupted else DONE, utc_now(), timings=timings,
                          outcome=outcome, **attempt_details)


def _torch_threads() -> int:
    """CPU inference is bit-identical only between runs with the same thread count, so it is recorded."""
    import torch
    return torch.get_num_threads()
