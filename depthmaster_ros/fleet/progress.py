"""One progress bar for a whole batch: frames/s over all workers, bags done and failed, ETA.

The total is estimated up front from each bag's image count (without opening the model) and
corrected as each bag reports its real frame count, so the ETA converges as the batch runs.
"""
from typing import TYPE_CHECKING

from .inputs import BagJob
from .manifest import DONE, ManifestRecord

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions


def estimated_frames(job: BagJob, options: 'BagOptions', cameras: tuple[str, ...] = ()) -> int:
    """Frames of a bag the run will select (every camera's, for a ring), from its metadata; 0 for a bag that
    cannot be read."""
    from depthmaster_ros.bag import InputBag, select_ring_topics, select_topics, typestore
    try:
        with InputBag(job.input, typestore()) as bag:
            if cameras:
                images = [camera.image for camera in select_ring_topics(
                    bag.entries(), bag.first_message, cameras, image_topic=options.image_topic)]
            else:
                images = [select_topics(bag.entries(), bag.first_message, image_topic=options.image_topic,
                                        camera_info_topic=options.camera_info_topic, points_topic=options.points_topic,
                                        gt_topic=options.gt_topic, use_points=False).image]
            counts = [sum(c.msgcount for c in bag.connections(image)) for image in images]
    except Exception:  # noqa: BLE001 - the worker reports the real error; the bar only needs a guess
        return 0
    return sum(-(-count // options.every) for count in counts)


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
