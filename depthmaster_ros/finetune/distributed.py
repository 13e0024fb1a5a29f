"""Where a training loop runs: one local process, or data parallel on a Ray cluster, behind one API.

The loop is one function `train_loop(config)`, run once per worker. It asks `worker_context()` for its
rank, world size and device, wraps its model with `prepare_model` (DDP when there are several workers,
so every step averages the workers' gradients), writes files only where `is_main()`, and hands its
metrics to `report`. The same loop then runs unchanged in one process (`executor='local'`, no Ray
import) or as N Ray Train workers (`executor='ray'`, `ray_training.py`).

Two workers at batch B take the samples of one worker at batch 2B (each rank its share of the global
batch) and average their gradients, so they follow its trajectory up to the order of float sums.
"""
from collections.abc import Callable, Iterator
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Any

import torch

from .errors import FinetuneError

EXECUTORS = ('local', 'ray')

TrainLoop = Callable[[dict[str, Any]], None]
Reporter = Callable[[dict[str, Any], 'Path | None'], None]


@dataclass(frozen=True)
class WorkerContext:
    """Who this worker is: `rank` of `world_size` (0 writes the files), its device and its rank on its machine."""
    rank: int
    world_size: int
    device: torch.device
    local_rank: int


@dataclass
class TrainingOutcome:
    """What a run gave back: the main rank's reports in order and the wall time of the whole run
    (for Ray: cluster connection and worker start included)."""
    executor: str
    workers: int
    reports: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    storage: Path | None = None           # Ray Train's own folder, inside the run's output folder


@dataclass(frozen=True)
class _Session:
    context: WorkerContext
    send: Reporter


_session: _Session | None = None
_ALONE = WorkerContext(rank=0, world_size=1, device=torch.device('cpu'), local_rank=0)


@contextlib.contextmanager
def worker_session(context: WorkerContext, send: Reporter) -> Iterator[None]:
    """The worker's identity and report channel while its loop runs (set by the executors)."""
    global _session
    previous, _session = _session, _Session(context, send)
    try:
        yield
    finally:
        _session = previous


def worker_context() -> WorkerContext:
    """This worker's rank, world size and device; outside `run_training`, the lone CPU worker (rank 0 of 1),
    so a loop can also be called directly."""
    return _session.context if _session is not None else _ALONE


def is_main() -> bool:
    """Whether this worker writes the run's files (checkpoints, logs, the exported model): rank 0."""
    return worker_context().rank == 0


def prepare_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model on this worker's device; wrapped in DDP when there are several workers (gradients averaged
    over the workers at every backward). find_unused_parameters is off: every trainable parameter must take
    part in each forward (frozen ones are not synchronised at all)."""
    context = worker_context()
    model = model.to(context.device)
    if context.world_size == 1:
        return model
    device_ids = [context.device.index] if context.device.type == 'cuda' else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, find_unused_parameters=False)


def report(metrics: dict[str, Any], checkpoint_dir: Path | None = None) -> None:
    """Hand this step's metrics (and the folder of a checkpoint just written, if any) to the executor.

    Every rank calls it at the same steps: on Ray it is a synchronisation point of all workers. Only the
    main rank's metrics are kept. The checkpoint stays where the loop wrote it (the run's own resume
    point); its folder is recorded in the report as `checkpoint_dir`.
    """
    entry = dict(metrics)
    if checkpoint_dir is not None:
        entry['checkpoint_dir'] = str(checkpoint_dir)
    if _session is not None:
        _session.send(entry, checkpoint_dir)


def run_training(train_loop: TrainLoop, config: dict[str, Any], *, executor: str = 'local', workers: int = 1,
                 use_gpu: bool = False, ray_address: str | None = None,
                 storage_dir: Path | None = None) -> TrainingOutcome:
    """Run `train_loop(config)` on `workers` workers; returns the main rank's reports.

    local: this process, on the CPU (or the first GPU with use_gpu), exactly one worker, no Ray.
    ray: Ray Train workers on the cluster at `ray_address` (else a local instance, as `batch` starts it),
    one GPU each with use_gpu (NCCL), else CPUs shared evenly (gloo). Ray Train keeps its records in
    `storage_dir`, by default `<config['out']>/ray_train`.
    """
    if executor not in EXECUTORS:
        raise FinetuneError(f"--executor: one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 1:
        raise FinetuneError(f'--workers: must be at least 1, got {workers}')
    if executor == 'local':
        if workers != 1:
            raise FinetuneError(f'--workers {workers}: the local executor runs one process; use --executor ray')
        return _run_local(train_loop, config, use_gpu)
    if storage_dir is None:
        if 'out' not in config:
            raise FinetuneError("the Ray executor needs the run's output folder (config['out'] or storage_dir)")
        storage_dir = Path(config['out']) / 'ray_train'
    from .ray_training import run_on_ray
    return run_on_ray(train_loop, config, workers=workers, use_gpu=use_gpu, address=ray_address,
                      storage_dir=Path(storage_dir).resolve())


def _run_local(train_loop: TrainLoop, config: dict[str, Any], use_gpu: bool) -> TrainingOutcome:
    if use_gpu and not torch.cuda.is_available():
        raise FinetuneError('--use-gpu: torch sees no CUDA device')
    device = torch.device('cuda', 0) if use_gpu else torch.device('cpu')
    outcome = TrainingOutcome(executor='local', workers=1)
    started = time.perf_counter()
    with worker_session(WorkerContext(rank=0, world_size=1, device=device, local_rank=0),
                        lambda metrics, _: outcome.reports.append(metrics)):
        train_loop(config)
    outcome.seconds = time.perf_counter() - started
    return outcome
