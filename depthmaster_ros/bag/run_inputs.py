"""What a run reads from a bag: its topics (a lone camera or every camera of a ring) and its frame count.

The bag tool, the frame reader and the batch driver's progress bar all ask these, so a ring, a time
window and `every` are counted by one rule before the model is loaded.
"""
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any

from .messages import typestore
from .options import BagOptions
from .topics import CameraTopics, InputBag, select_points, select_ring_topics, select_topics, tf_topics


@dataclass(frozen=True)
class RunTopics:
    cameras: list[CameraTopics]
    points: str | None
    tf: list[str]


def select_run_topics(bag: Any, cameras: tuple[str, ...], options: BagOptions, use_points: bool) -> RunTopics:
    """The run's inputs: the lone camera the bag tool's topic selection finds (`topics.select_topics`), or each
    camera of the `cameras` parameter, under its namespace (`topics.select_ring_topics`); the cloud and TF."""
    entries = bag.entries()
    if cameras:
        return RunTopics(select_ring_topics(entries, bag.first_message, cameras,
                                            image_topic=options.image_topic, camera_info_topic=options.camera_info_topic,
                                            gt_topic=options.gt_topic),
                         select_points(entries, options.points_topic, use_points), tf_topics(entries))
    lone = select_topics(entries, bag.first_message, image_topic=options.image_topic,
                         camera_info_topic=options.camera_info_topic, points_topic=options.points_topic,
                         gt_topic=options.gt_topic, use_points=use_points)
    return RunTopics([CameraTopics('', lone.image, lone.image_type, lone.camera_info, lone.gt)], lone.points, lone.tf)


def frame_window(bag: Any, options: BagOptions) -> tuple[int, int | None]:
    """(first, end or None) log time of the images the run takes: start_s after the bag's start, for duration_s."""
    start = bag.reader.start_time + int(round(options.start_s * 1e9))
    return start, None if options.duration_s is None else start + int(round(options.duration_s * 1e9))


def estimated_frames(bag: Any, image_topics: list[str], options: BagOptions) -> int:
    """Frames the window and `every` will select, from the image topics' counts and the bag's span."""
    window_start, window_stop = frame_window(bag, options)
    start, end = bag.reader.start_time, bag.reader.end_time
    covered = min(end, window_stop or end) - max(start, window_start)
    fraction = 1.0 if window_start <= start and window_stop is None else max(0, covered) / max(1, end - start)
    return sum(max(1, int(math.ceil(sum(c.msgcount for c in bag.connections(topic)) * min(1.0, fraction)
                                    / options.every)))
               for topic in image_topics)


def count_frames(path: str | Path, options: BagOptions, cameras: tuple[str, ...] = ()) -> int:
    """`estimated_frames` of the bag at `path` for a run over `cameras` (none: the lone camera), from its metadata."""
    with InputBag(path, typestore()) as bag:
        topics = select_run_topics(bag, cameras, options, use_points=False)
        return estimated_frames(bag, [camera.image for camera in topics.cameras], options)
