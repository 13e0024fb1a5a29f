"""A batch run: skip what the manifest says is done, process the rest on an executor, record each bag.

Only this driver writes the manifest and only one driver may work on an output directory at a time
(a lock file in it), so records never interleave and a killed worker cannot corrupt them.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
import fcntl
from pathlib import Path
import time
from typing import TYPE_CHECKING, Any

from depthmaster_ros.config import Config

from .errors import FleetError
from .identity import run_hash
from .inputs import BagJob
from .manifest import DONE, MANIFEST_NAME, Manifest, ManifestRecord
from .progress import BatchProgress, frames_estimate

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions

LOCK_NAME = '.batch.lock'


@dataclass
class BatchResult:
    manifest: str
    run_hash: dict[str, str]
    skipped: list[str] = field(default_factory=list)               # done by an earlier run with this hash
    records: dict[str, ManifestRecord] = field(default_factory=dict)   # name -> this run's last record
    attempts: int = 0
    wall_s: float = 0.0
    workers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return sorted(name for name, record in self.records.items() if record.status != DONE)

    @property
    def frames_out(self) -> int:
        return sum(record.outcome.frames['out'] for record in self.records.values() if record.outcome is not None)


class _OutputLock:
    """An exclusive lock on OUT, so two batches never share its manifest or its partial outputs."""

    def __init__(self, out_dir: Path):
        self.path = out_dir / LOCK_NAME

    def __enter__(self):
        self.file = self.path.open('a')
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise FleetError(f'--out: {self.path.parent} is in use by another batch; wait for it or choose '
                             'another --out') from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()
        return False


def run_batch(jobs: list[BagJob], out_dir: str | Path, config: Config, options: 'BagOptions',
              make_executor: Callable[[dict[str, str]], Any], *, redo: bool = False, progress: bool = True,
              stop_requested: Callable[[], bool] = lambda: False) -> BatchResult:
    """Process every job not yet done with this configuration; returns what this run did.

    ``make_executor(run_hash)`` builds the executor (LocalExecutor or RayExecutor); it is started only
    when something is left to do, so a finished batch reruns in seconds without loading a model.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _OutputLock(out_dir):
        manifest = Manifest(out_dir / MANIFEST_NAME)
        hashes = run_hash(config, options)
        result = BatchResult(manifest=str(manifest.path), run_hash=hashes)
        todo = []
        for job in jobs:
            if not redo and manifest.is_done(job.name, hashes['run']):
                result.skipped.append(job.name)
            else:
                todo.append(job)
        if todo:
            _run(todo, manifest, result, make_executor(hashes), options, config.node.cameras, progress,
                 stop_requested)
    result.wall_s = time.perf_counter() - started
    return result


def _run(todo, manifest, result, executor, options, cameras, progress, stop_requested):
    bar = None
    executor.start()
    try:
        result.workers = list(getattr(executor, 'worker_info', []))
        bar = BatchProgress({job.name: frames_estimate(job, options, cameras) for job in todo}, progress)

        def report(record, counted):
            manifest.append(record)
            result.attempts += 1
            if record.will_retry:
                bar.extra_frames(counted)
            else:
                result.records[record.name] = record
                bar.bag_finished(record, counted)

        executor.run(todo, report, lambda name, count: bar.frames(count), stop_requested)
    finally:
        if bar is not None:
            bar.close()
        executor.close()
