"""The Ray executor: a pool of actors, each loading the model once, fed one bag at a time.

One actor per GPU when the cluster has GPUs (``num_gpus=1``; Ray sets CUDA_VISIBLE_DEVICES), else one
per CPU slot (``--workers``, default every CPU Ray offers). Each actor holds at most one bag, so no more
bags are in flight than there are actors (back-pressure: the queue stays on the driver, nothing piles
up in Ray's object store). An actor that dies mid-bag (killed, out of memory, its machine lost) is
replaced and its bag is queued again, up to ``retries`` more times; its hidden partial output is
removed by the next attempt, and the final path only ever receives a complete bag.

A local instance (no ``--ray-address``) is reachable from this machine only: every Ray process binds
the loopback address, token authentication is on where the installed Ray has it (with the user's token
as Ray finds it), and the dashboard is off unless asked for (then on 127.0.0.1). A multi-machine
cluster is the operator's to secure: docs/security.md says how (TLS and a token).

Ray is imported here only, so the rest of the package runs without it.
"""
from collections import deque
from collections.abc import Callable, Iterator
import contextlib
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from depthmaster_ros.config import Config
from depthmaster_ros.model import Estimator

from .errors import FleetError, WorkerStartError
from .inputs import BagJob
from .manifest import ManifestRecord
from .work import failed_record, loaded, process_one

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions

POLL_S = 0.25             # how often the driver collects frame counts for the progress bar
FLUSH_S = 0.2             # how often a worker sends its frame count


class FrameCounter:
    """Frames done per bag since the driver last asked (a tiny actor: the workers' progress channel)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    def take(self) -> dict[str, int]:
        counts, self.counts = self.counts, {}
        return counts


class BagWorker:
    """One model, many bags: what runs inside each actor."""

    def __init__(self, config: Config, options: 'BagOptions', run_hash: dict[str, str], counter: Any):
        self.config, self.options, self.run_hash, self.counter = config, options, run_hash, counter
        self.estimator: Estimator | None = None

    def ready(self) -> dict[str, Any]:
        """Load the model; returns where this worker runs (raises ModelLoadError if it cannot)."""
        import os
        import socket

        from depthmaster_ros.pipeline import load_configured_estimator
        self.estimator = load_configured_estimator(self.config.model)
        return {'host': socket.gethostname(), 'pid': os.getpid(), 'device': str(getattr(self.estimator, 'device', ''))}

    def process(self, job: BagJob, attempt: int) -> ManifestRecord:
        pending, last = [0], [time.monotonic()]

        def frame_done():
            pending[0] += 1
            if time.monotonic() - last[0] >= FLUSH_S:
                self.counter.add.remote(job.name, pending[0])
                pending[0], last[0] = 0, time.monotonic()

        try:
            return process_one(job, loaded(self.estimator), self.config, self.options, self.run_hash, attempt, frame_done)
        finally:
            if pending[0]:
                self.counter.add.remote(job.name, pending[0])


class RayExecutor:
    name = 'ray'

    def __init__(self, config: Config, options: 'BagOptions', run_hash: dict[str, str], workers: int | None = None,
                 address: str | None = None, retries: int = 2, dashboard: bool = False):
        if workers is not None and workers < 1:
            raise FleetError(f'--workers: must be at least 1, got {workers}')
        if retries < 0:
            raise FleetError(f'--retries: must not be negative, got {retries}')
        self.config, self.options, self.run_hash = config, options, run_hash
        self.workers, self.address, self.retries, self.dashboard = workers, address, retries, dashboard
        self.started_ray = False
        self.environment = contextlib.ExitStack()     # the local instance's environment, until close
        self.actors: list[Any] = []
        self.worker_info: list[dict[str, Any]] = []

    # pool ------------------------------------------------------------------------------------
    def start(self) -> None:
        import ray
        self.started_ray = connect_ray(self.address, self.workers, self.dashboard, self.environment)
        resources = ray.cluster_resources()
        gpus = int(resources.get('GPU', 0))
        if gpus:
            count, self.actor_options = min(self.workers or gpus, gpus), {'num_gpus': 1, 'num_cpus': 1}
        else:
            count, self.actor_options = self.workers or max(1, int(resources.get('CPU', 1))), {'num_cpus': 1}
        self.counter = ray.remote(num_cpus=0)(FrameCounter).remote()
        self.worker_class = ray.remote(max_restarts=0, max_task_retries=0)(BagWorker)
        self.actors = [self._new_actor() for _ in range(count)]
        self.worker_info = self._wait_ready(self.actors)

    def _new_actor(self):
        return self.worker_class.options(**self.actor_options).remote(
            self.config, self.options, self.run_hash, self.counter)

    def _wait_ready(self, actors):
        import ray
        try:
            return ray.get([actor.ready.remote() for actor in actors])
        except ray.exceptions.RayError as error:
            raise WorkerStartError(f'a worker could not load the model: {_cause(error)}') from None

    # batch -----------------------------------------------------------------------------------
    def run(self, jobs: list[BagJob], report: Callable[[ManifestRecord, int], None],
            frames: Callable[[str, int], None], stop_requested: Callable[[], bool]) -> None:
        """Process the jobs on the pool; ``report(record, frames_counted)`` after each attempt.

        A worker's last frame counts may reach the driver after its bag's record; they are dropped,
        as the record's own frame count settles the progress bar.
        """
        import ray
        pending = deque((job, 1) for job in jobs)
        running: dict[Any, tuple[Any, BagJob, int]] = {}
        counted: dict[str, int] = {}
        idle = list(self.actors)
        while pending or running:
            while idle and pending and not stop_requested():
                actor = idle.pop()
                job, attempt = pending.popleft()
                counted[job.name] = 0
                running[actor.process.remote(job, attempt)] = (actor, job, attempt)
            if not running:
                return
            finished, _ = ray.wait(list(running), num_returns=1, timeout=POLL_S)
            self._collect_frames(counted, frames)
            for ref in finished:
                actor, job, attempt = running.pop(ref)
                try:
                    record = ray.get(ref)
                except ray.exceptions.RayActorError as error:
                    record = self._worker_died(job, attempt, error)
                    idle.append(self._replace(actor))
                    if record.will_retry:
                        pending.appendleft((job, attempt + 1))
                except ray.exceptions.RayTaskError as error:
                    record = failed_record(job, self.run_hash, attempt, _cause(error))
                    idle.append(actor)
                else:
                    idle.append(actor)
                report(record, counted.pop(job.name, 0))

    def _collect_frames(self, counted, frames):
        import ray
        for name, count in ray.get(self.counter.take.remote()).items():
            if name in counted:
                counted[name] += count
                frames(name, count)

    def _worker_died(self, job, attempt, error):
        retry = attempt <= self.retries
        return failed_record(job, self.run_hash, attempt, f'worker died mid-bag ({type(error).__name__})'
                             + ('; retrying' if retry else f'; gave up after {attempt} attempts'), will_retry=retry)

    def _replace(self, dead):
        import ray
        ray.kill(dead, no_restart=True)
        actor = self._new_actor()
        self.worker_info.extend(self._wait_ready([actor]))
        self.actors = [a for a in self.actors if a is not dead] + [actor]
        return actor

    def close(self) -> None:
        import ray
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray:
            ray.shutdown()
            self.started_ray = False
        self.environment.close()


def connect_ray(address: str | None, num_cpus: int | None, dashboard: bool,
                environment: contextlib.ExitStack) -> bool:
    """Join the cluster at `address`, or start a local instance (loopback only, `num_cpus` CPUs, the
    dashboard off unless asked for) whose environment is entered on `environment`, to be closed after
    `ray.shutdown()`. Returns whether this call started Ray (False when it was already running)."""
    import logging

    import ray
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        environment.enter_context(local_instance_environment())
        ray.init(num_cpus=num_cpus, include_dashboard=dashboard, dashboard_host='127.0.0.1',
                 logging_level=logging.WARNING)
    return True


# Ray's switch for a single-machine instance: its node address is the loopback one, so every server binds it.
# No usage statistics leave the machine either.
_LOOPBACK_ONLY = {'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER': '0', 'RAY_USAGE_STATS_ENABLED': '0'}
def token_auth_supported() -> bool:
    """Whether the installed Ray authenticates its clients with a token: from Ray 2.52 on, ray.init turns it
    on for a new local instance by itself (and makes the user a token), unless RAY_AUTH_MODE says otherwise."""
    import importlib
    return hasattr(importlib.import_module('ray._raylet'), 'AuthenticationMode')


@contextlib.contextmanager
def local_instance_environment() -> Iterator[None]:
    """The environment a local Ray instance starts in: loopback only.

    Ray reads these from the environment its processes inherit, and the driver from its constants module,
    which is already imported (and read the environment then); both hold until the instance is shut down.
    """
    settings = dict(_LOOPBACK_ONLY)
    if token_auth_supported() and os.environ.get('RAY_AUTH_MODE', '').lower() == 'disabled':
        import logging
        logging.getLogger(__name__).warning('RAY_AUTH_MODE=disabled: the local Ray instance accepts any local '
                                            'client without a token')
    previous = {name: os.environ.get(name) for name in settings}
    constants = sys.modules.get('ray._private.ray_constants')
    enabled = getattr(constants, 'ENABLE_RAY_CLUSTER', None)
    os.environ.update(settings)
    if constants is not None:
        setattr(constants, 'ENABLE_RAY_CLUSTER', False)  # noqa: B010 - a module attribute mypy does not know
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if constants is not None:
            setattr(constants, 'ENABLE_RAY_CLUSTER', enabled)  # noqa: B010


def _cause(error) -> str:
    """The original exception's text out of Ray's wrapper."""
    cause = getattr(error, 'cause', None)
    if isinstance(cause, BaseException):
        return f'{type(cause).__name__}: {cause}'
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
