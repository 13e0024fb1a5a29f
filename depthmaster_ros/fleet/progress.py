"""One progress bar for a whole batch: frames/s over all workers, bags done and failed, ETA.

The total is estimated up front from each bag's image count (without opening the model) and
corrected as each bag reports its real frame count, so the ETA converges as the batch runs.
"""
from typing import TYPE_CHECKING

from .inputs import BagJob
from .manifest import DONE, ManifestRecord

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions


def frames_estimate(job: BagJob, options: 'BagOptions', cameras: tuple[str, ...] = ()) -> int:
    """The bag tool's own count of the frames a run selects (`bag.count_frames`: every camera of a ring, the time
    window, `every`); 0 for a bag that cannot be read."""
    from depthmaster_ros.bag import count_frames
    try:
        return count_frames(job.input, options, cameras)
    except Exception:  # noqa: BLE001 - the worker reports the real error; the bar only needs a guess
        return 0


class BatchProgress:
    def __init__(self, estimates: dict[str, int], enabled: bool):
        self.estimates = dict(estimates)
        self.bags = len(estimates)
        self.done = self.failed = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=sum(self.estimates.values()), unit='frame', dynamic_ncols=True, smoothing=0.05)
            self._postfix()

    def frames(self, count: int) -> None:
        if self.bar is not None and count:
            self.bar.update(count)

    def extra_frames(self, count: int) -> None:
        """Frames that will be processed again (a retried bag): they extend the total, not the progress."""
        if self.bar is not None and count:
            self.bar.total += count
            self.bar.refresh()

    def bag_finished(self, record: ManifestRecord, counted: int) -> None:
        """Account for one finished bag; ``counted`` is how many of its frames the bar has already seen."""
        if record.status == DONE:
            self.done += 1
        else:
            self.failed += 1
        selected = counted if record.outcome is None else record.outcome.frames['selected']
        if self.bar is not None:
            self.bar.total += selected - self.estimates.get(record.name, 0)
            self.bar.update(selected - counted)
            self._postfix()

    def _postfix(self):
        self.bar.set_postfix_str(f'bags {self.done + self.failed}/{self.bags} ({self.failed} failed)')

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
