"""The in-process executor: the model is loaded once, then bags run one after another."""
from collections.abc import Callable
from typing import TYPE_CHECKING

from depthmaster_ros.config import Config
from depthmaster_ros.model import Estimator

from .inputs import BagJob
from .manifest import ManifestRecord
from .work import loaded, process_one

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions


class LocalExecutor:
    name = 'local'

    def __init__(self, config: Config, options: 'BagOptions', run_hash: dict[str, str]):
        self.config, self.options, self.run_hash = config, options, run_hash
        self.estimator: Estimator | None = None

    def start(self) -> None:
        """Load the model (ModelLoadError ends the batch before any bag is touched)."""
        from depthmaster_ros.pipeline import load_configured_estimator
        self.estimator = load_configured_estimator(self.config.model)

    def run(self, jobs: list[BagJob], report: Callable[[ManifestRecord, int], None],
            frames: Callable[[str, int], None], stop_requested: Callable[[], bool]) -> None:
        """Process the jobs in order; ``report(record, frames_counted)`` after each, no new bag after a stop."""
        for job in jobs:
            if stop_requested():
                return
            counted = [0]

            def frame_done(name: str = job.name, counted: list[int] = counted) -> None:
                counted[0] += 1
                frames(name, 1)

            report(process_one(job, loaded(self.estimator), self.config, self.options, self.run_hash,
                               frame_done=frame_done), counted[0])

    def close(self) -> None:
        self.estimator = None
