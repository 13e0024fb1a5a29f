"""A bag's frames as the bag tool assembles them, without running the model (training data is built from them).

The replay's own reader runs (`replay._BagRun.replay`: topics chosen the same way, TF and /tf_static, CameraInfo
by stamp, clouds paired by age with the LiDAR look-ahead, ground truth by stamp), so each frame is the
`FrameInput` the node's pipeline would get. Images the assembly skips are counted under their reason, and so
are the other unusable inputs, in `FrameReading.skipped` and `.faults`.
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from depthmaster_ros.config import Config
from depthmaster_ros.pipeline import DepthPipeline, FrameInput

from . import messages as rosbag_messages
from . import topics as bag_topics
from .camera_ring import BagCamera, summary_topics
from .options import BagOptions
from .output import OutputBag
from .read_ahead import ReadAhead
from .replay import READ_AHEAD, _BagRun, _Step
from .run_inputs import select_run_topics


@dataclass(frozen=True)
class AssembledFrame:
    frame: FrameInput
    ground_truth: np.ndarray | None      # the bag's depth ground truth of this stamp, metres, when it has one
    log_ns: int


@dataclass
class FrameReading:
    """What one read saw: the topics used, and the skipped images and unusable inputs by kind."""
    topics: dict[str, Any] = field(default_factory=dict)
    frames_in: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    faults: dict[str, int] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)      # the last text of each kind


def read_frames(path: str | Path, config: Config, reading: FrameReading,
                options: BagOptions | None = None) -> Iterator[AssembledFrame]:
    """The frames of the bag at `path` in log-time order; `reading` is filled as they come and complete at the end.

    ``options`` choose topics and the time window as for `process_bag` (output options are ignored).
    """
    options = options or BagOptions(progress=False)
    with bag_topics.InputBag(path, rosbag_messages.typestore()) as bag:
        topics = select_run_topics(bag, config.node.cameras, options, options.use_points)
        reading.topics = summary_topics(topics)
        if len(topics.cameras) > 1 or topics.cameras[0].name:
            reading.topics['cameras'] = {camera.name: {'image': camera.image, 'camera_info': camera.camera_info,
                                                       'gt': camera.gt} for camera in topics.cameras}
        # the replay's reader sends steps of (pipeline, frame); no pipeline or output is made, the frames are taken
        cameras = [BagCamera(index, camera, cast(DepthPipeline, None), cast(OutputBag, None))
                   for index, camera in enumerate(topics.cameras)]
        run = _BagRun(bag, topics, cameras, config, options, lambda: False)
        reader = ReadAhead(run.replay, READ_AHEAD)
        try:
            for job in reader.jobs():
                if isinstance(job.context, _Step):
                    for (_, frame), written in zip(job.items, job.context.frames):
                        yield AssembledFrame(frame, written.gt, written.log_ns)
        finally:
            reader.close()
            run.progress.close()
            reading.frames_in = run.stats.frames_in
            reading.skipped = run.stats.skipped.counts()
            reading.faults = run.stats.faults.counts()
            reading.messages = {**run.stats.faults.last_messages(), **run.stats.skipped.last_messages()}
