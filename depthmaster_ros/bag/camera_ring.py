"""The cameras of one bag run: a lone camera, or every camera of a recorded ring in one pass.

Each camera has its own input topics, frame assembly (camera_info pairing), pipeline over the one
shared estimator, output namespace, ground truth and frame counts, as `ros/camera_channel.py` gives
the node's cameras. Frames go to the model in steps of at most one frame per camera (one batched
forward per step, as the node's worker takes every camera's pending frame): a step is sent once
every camera has a frame in it, or when a camera's next frame arrives first (that frame opens the
next step), so nothing is dropped and each camera's frames stay in order. With `scan_merge` the
step's scans become one merged scan in the ring's namespace, stamped with the oldest contributing
image (`pipeline.merged_scan`) and logged with the newest contributing image's log time.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
import math
import posixpath
from typing import Any

import numpy as np

from depthmaster_ros.pipeline import DepthPipeline, FaultCounters, FrameAssembly, FrameJob, FrameOutput, merged_scan

from .output import OutputBag
from .run_inputs import RunTopics
from .topics import CameraTopics


@dataclass
class CameraCounts:
    """One camera's frames: in the window, kept by --every, written, and the skipped ones by reason."""
    in_window: int = 0
    selected: int = 0
    out: int = 0
    skipped: FaultCounters = field(default_factory=lambda: FaultCounters(throttle_s=math.inf))


@dataclass
class BagCamera:
    index: int
    topics: CameraTopics
    pipeline: DepthPipeline
    out: OutputBag
    assembly: FrameAssembly | None = None                        # set by the run (it reports into the run's stats)
    counts: CameraCounts = field(default_factory=CameraCounts)
    ground_truth: dict[int, np.ndarray] = field(default_factory=dict)   # stamp_ns -> depth in metres

    def label(self, message: str) -> str:
        """A fault text that says which camera it concerns (when the run has several)."""
        return f'{self.topics.name}: {message}' if self.topics.name else message


def output_namespaces(cameras: list[CameraTopics], namespace: str | None) -> tuple[list[str], str]:
    """Each camera's output namespace and the ring's (its merged scan and copied inputs).

    A lone camera writes under --namespace, else its image topic's namespace. A ring's cameras write
    under --namespace/<camera> (as the node's `cameras` under its namespace), else under their image
    topics' namespaces, and the ring under --namespace, else the namespace the cameras share.
    """
    if len(cameras) == 1 and not cameras[0].name:
        own = namespace or cameras[0].namespace
        return [own], own
    if namespace is not None:
        ring = namespace.rstrip('/')
        return [f'{ring}/{camera.name}' for camera in cameras], ring or '/'
    parents = [posixpath.dirname(camera.namespace.rstrip('/')) or '/' for camera in cameras]
    return [camera.namespace for camera in cameras], posixpath.commonpath(parents)


class CameraSteps:
    """Frames grouped into steps of at most one per camera; `send(job)` gets each full step."""

    def __init__(self, cameras: int, send: Callable[[FrameJob], None], context: Callable[[list[Any]], Any]):
        self.cameras, self.send, self.context = cameras, send, context
        self.items: list[tuple[DepthPipeline, Any]] = []
        self.contexts: list[Any] = []
        self.indices: set[int] = set()

    def add(self, camera: BagCamera, frame: Any, context: Any) -> None:
        if camera.index in self.indices:
            self.flush()
        self.items.append((camera.pipeline, frame))
        self.contexts.append(context)
        self.indices.add(camera.index)
        if len(self.indices) == self.cameras:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.send(FrameJob(self.items, self.context(self.contexts)))
        self.items, self.contexts, self.indices = [], [], set()


def write_merged_scan(out: OutputBag, scans: list[tuple[FrameOutput, int, int]], scan_frame: str) -> None:
    """One scan over a step's cameras, from (output, image stamp, log time) of each camera whose scan is merged."""
    contributing = [(output.navigation.scan, stamp_ns) for output, stamp_ns, _ in scans
                    if output.navigation is not None and output.navigation.merged and output.navigation.scan is not None]
    if not contributing:
        return
    scan, stamp_ns = merged_scan(contributing)
    out.write('scan', out.builders.scan_msg(scan, out.builders.header(stamp_ns, scan_frame)),
              max(log_ns for _, _, log_ns in scans))


def camera_summaries(cameras: list[BagCamera]) -> dict[str, dict[str, Any]]:
    """Per camera of a ring (none for a lone camera): its topics, output namespace and frame counts."""
    if len(cameras) == 1 and not cameras[0].topics.name:
        return {}
    found = {}
    for camera in cameras:
        counts, topics = camera.counts, camera.topics
        skipped = counts.skipped.counts()
        found[topics.name] = {
            'topics': {'image': topics.image, 'camera_info': topics.camera_info, 'gt': topics.gt},
            'output_namespace': camera.out.namespace or '/',
            'frames': {'in': counts.in_window, 'selected': counts.selected, 'out': counts.out,
                       'skipped': sum(skipped.values()), 'skip_reasons': skipped}}
    return found



def summary_topics(topics: RunTopics) -> dict[str, Any]:
    """Input role -> topic for the summary; a ring's cameras' own topics are in its `cameras`."""
    shared = {'points': topics.points, 'tf': topics.tf}
    if len(topics.cameras) > 1 or topics.cameras[0].name:
        return shared
    camera = topics.cameras[0]
    return {'image': camera.image, 'camera_info': camera.camera_info, **shared, 'gt': camera.gt}

