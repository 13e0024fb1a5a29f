"""`run_training(..., executor='ray')`: the loop as Ray Train workers (TorchTrainer, DDP) on the cluster
`batch --executor ray` uses.

The cluster is joined or started exactly as `batch` does it (`fleet.connect_ray`: a local instance binds
the loopback address only, no dashboard, no usage statistics). Each worker gets one GPU (NCCL) with
use_gpu, else an even share of the CPUs (gloo), and torch uses that many threads, so N workers on N
cores do not oversubscribe them. Ray Train's records go to `storage_dir`, inside the run's output.

Ray is imported here only (and only when this module is).
"""
import contextlib
from pathlib import Path
import time
from typing import Any

from ..fleet import connect_ray
from .distributed import TrainingOutcome, TrainLoop, WorkerContext, worker_session
from .errors import FinetuneError

RUN_NAME = 'run'


class ReportCollector:
    """The main rank's reports, in order (a tiny actor: Ray Train keeps only the last one)."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []

    def add(self, metrics: dict[str, Any]) -> None:
        self.reports.append(metrics)

    def take(self) -> list[dict[str, Any]]:
        return self.reports


def cpus_per_worker(workers: int, use_gpu: bool) -> int:
    """The CPUs (and torch threads) of each worker: the cluster's CPUs shared evenly, at most one machine's.

    Refuses a run the cluster cannot place, rather than letting Ray wait for resources that never come."""
    import ray
    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    total = int(resources.get('CPU', 0))
    if use_gpu and int(resources.get('GPU', 0)) < workers:
        raise FinetuneError(f"--workers {workers} --use-gpu: the Ray cluster has {int(resources.get('GPU', 0))} GPUs")
    if total < workers:
        raise FinetuneError(f'--workers {workers}: the Ray cluster has {total} CPUs, one per worker at least')
    largest = max(int(node['Resources'].get('CPU', 0)) for node in ray.nodes()  # type: ignore[no-untyped-call]
                  if node.get('Alive'))
    return max(1, min(total // workers, largest))


def run_on_ray(train_loop: TrainLoop, config: dict[str, Any], *, workers: int, use_gpu: bool, address: str | None,
               storage_dir: Path) -> TrainingOutcome:
    """Run the loop as `workers` Ray Train workers; the main rank's reports come back in order."""
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    started = time.perf_counter()
    environment = contextlib.ExitStack()
    started_ray = connect_ray(address, None, False, environment)
    try:
        threads = cpus_per_worker(workers, use_gpu)
        collector: Any = ray.remote(num_cpus=0)(ReportCollector).remote()
        resources = {'CPU': threads, **({'GPU': 1} if use_gpu else {})}
        storage_dir.mkdir(parents=True, exist_ok=True)
        trainer = TorchTrainer(
            _worker_entry(train_loop, threads, use_gpu, collector), train_loop_config=config,
            torch_config=TorchConfig(backend='nccl' if use_gpu else 'gloo'),
            scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu, resources_per_worker=resources),
            run_config=RunConfig(name=RUN_NAME, storage_path=str(storage_dir), failure_config=FailureConfig(max_failures=0)))
        try:
            trainer.fit()
        except ray.train.TrainingFailedError as error:
            raise FinetuneError(f'training failed on a Ray worker: {_worker_failure(error)}') from error
        reports = ray.get(collector.take.remote())
    finally:
        if started_ray:
            ray.shutdown()
        environment.close()
    return TrainingOutcome(executor='ray', workers=workers, reports=reports, seconds=time.perf_counter() - started,
                           storage=storage_dir)


def _worker_entry(train_loop: TrainLoop, threads: int, use_gpu: bool, collector: Any) -> TrainLoop:
    """What each Ray Train worker runs: its torch threads, its context and report channel, then the loop."""
    def entry(config: dict[str, Any]) -> None:
        import ray
        import ray.train
        import ray.train.torch
        import torch
        torch.set_num_threads(threads)
        context = ray.train.get_context()
        rank = context.get_world_rank()
        device = ray.train.torch.get_device() if use_gpu else torch.device('cpu')
        if device.type == 'cuda':
            torch.cuda.set_device(device)

        def send(metrics: dict[str, Any], _checkpoint_dir: Path | None) -> None:
            if rank == 0:
                ray.get(collector.add.remote(metrics))
            ray.train.report(metrics)

        worker = WorkerContext(rank=rank, world_size=context.get_world_size(), device=device,
                               local_rank=context.get_local_rank())
        with worker_session(worker, send):
            train_loop(config)
    return entry


def _worker_failure(error: BaseException) -> str:
    """The workers' own exceptions out of Ray Train's wrapper."""
    failures = getattr(error, 'worker_failures', None)
    if isinstance(failures, dict) and failures:
        rank, failure = sorted(failures.items())[0]
        cause = getattr(failure, 'cause', failure)
        return f'rank {rank}: {type(cause).__name__}: {cause}'
    text = str(error).strip()
    return text.splitlines()[-1] if text else type(error).__name__
