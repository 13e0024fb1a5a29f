"""Offline rosbag2 -> rosbag2 with the node's own frame pipeline.

Messages are replayed in log-time order: TF updates the transforms, and CameraInfos, clouds and images go to
the node's own frame assembly (pipeline/assembly.py: same conversion, pairing, skip and fault reasons); each
selected frame runs through the node's pipelined frame path (pipeline/pipelined.py). Unlike the node nothing is
dropped for being late: an image waits a short look-ahead in log time for a cloud stamped just after it (LiDAR
latency). Every output message carries its source image's header and log time. A recorded camera ring (the
`cameras` parameter) runs in the same pass, one batched forward per step (camera_ring.py).

Three threads: a reader decodes and assembles frames a few jobs ahead (`read_ahead.ReadAhead`), this one runs
the forward, the frame path's stages finish and write each frame (and the copied inputs, in their place).
"""
from collections import deque
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
import time
from typing import Any, cast

import numpy as np

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.config import Config
from depthmaster_ros.conversions import ImplausibleSize
from depthmaster_ros.model import Estimator, describe_weights
from depthmaster_ros.pipeline import (
    OUTPUT_TOPICS,
    CameraInfoSync,
    DepthPipeline,
    FrameAssembly,
    FrameInput,
    FrameJob,
    FrameOutput,
    FrameResults,
    PipelinedFrames,
    RecentClouds,
    is_ring,
    store_cloud,
)
from depthmaster_ros.pipeline import faults as kinds

from . import messages as rosbag_messages
from . import topics as bag_topics
from .camera_ring import BagCamera, CameraSteps, camera_summaries, output_namespaces, summary_topics, write_merged_scan
from .compression import output_compression
from .contact_sheet import sheet_positions, sheet_title
from .errors import BagError
from .ground_truth import add_ground_truth, errors_against
from .options import BagOptions
from .output import OutputBag, Progress
from .read_ahead import ReadAhead
from .refusal import BagRefused
from .run_inputs import RunTopics, estimated_frames, frame_window, select_run_topics
from .summary import BagStats, BagSummary, build_summary, recording_size
from .writing import SINGLE_FILE_SUFFIXES, OutputLocation, bag_size_bytes, open_writer, output_storage

# How long, in log time, an image waits for late clouds and transforms beyond the pairing tolerance.
LIDAR_LATENCY_ALLOWANCE_S = 0.5
# How far before --start transforms and clouds are read, beyond max_cloud_age_s.
PRELOAD_S = 1.0
# Jobs (frames and copied messages) the reader may be ahead of the model forward.
READ_AHEAD = 16


def process_bag(input_path: str | Path, output_path: str | Path, estimator: Estimator | Callable[[], Estimator],
                config: Config,
                options: BagOptions | None = None,
                stop_requested: Callable[[], bool] | None = None) -> BagSummary:
    """Process IN into OUT; returns its summary (``summary.interrupted`` after a stop request).

    ``estimator`` is a loaded estimator, or a function returning one: it is then called only once the
    bag, its topics and OUT are known to be usable, so those mistakes fail before a slow model load.
    ``config`` is the node's configuration (``Config.from_params`` of its params file and overrides);
    ``stop_requested()`` is polled between messages (Ctrl-C in the CLI).
    """
    options = options or BagOptions()
    options.check()
    storage = output_storage(output_path, options.storage)
    compression = output_compression(storage, Path(output_path).suffix in SINGLE_FILE_SUFFIXES, options.compression)
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise BagError(f'OUT: {output_path} is the input bag')
    started = time.perf_counter()
    with bag_topics.InputBag(input_path, rosbag_messages.typestore()) as bag:
        topics = select_run_topics(bag, config.node.cameras, options,
                                   options.use_points and get_mode(config.alignment.alignment_mode).needs_cloud)
        location = OutputLocation(output_path, options.force, options.output_root)
        if not hasattr(estimator, 'predict'):
            estimator = estimator()
        namespaces, ring_namespace = output_namespaces(topics.cameras, options.namespace)
        cameras = [BagCamera(index, camera, DepthPipeline(cast(Estimator, estimator), config),
                             OutputBag(None, namespace, config, relative=options.relative))
                   for index, (camera, namespace) in enumerate(zip(topics.cameras, namespaces))]
        out = OutputBag(None, ring_namespace, config, relative=options.relative)
        run = _BagRun(bag, topics, cameras, config, options, stop_requested or (lambda: False))
        try:
            run.run(out, lambda: open_writer(location, storage, compression))
        except BaseException:          # an error or a second Ctrl-C: no half-written OUT is left behind
            run.progress.close()
            with contextlib.suppress(Exception):
                out.writer.close()
            location.discard()
            raise
        run.progress.close()
        location.commit()
    recording = recording_size(bag_size_bytes(output_path), out.writer.min_timestamp, out.writer.max_timestamp)

    summary = build_summary(
        run.stats, interrupted=run.interrupted, wall_s=time.perf_counter() - started,
        run={'label': options.label, 'input': str(input_path), 'output': str(output_path), 'storage': storage,
             'compression': compression, 'recording': recording},
        model={'backend': config.model.backend, 'model': config.model.model,
               'weights': describe_weights(config.model.model),
               'device': str(getattr(estimator, 'device', '')), 'dtype': str(getattr(estimator, 'dtype', '')),
               'processing_res': config.model.processing_res, 'alignment_mode': config.alignment.alignment_mode},
        topics=summary_topics(topics), output_topics=run.output_topics, cameras=camera_summaries(cameras))
    if options.contact_sheet and run.sheet_rows:
        from depthmaster_ros.bag.contact_sheet import write_contact_sheet
        write_contact_sheet(options.contact_sheet, run.sheet_rows, title=sheet_title(options.label, config))
        summary.contact_sheet = str(options.contact_sheet)
    return summary


# ---------------------------------------------------------------------------------------------
# one run over the input

@dataclass
class _PendingImage:
    camera: BagCamera
    log_ns: int
    message: object


@dataclass
class _FrameToWrite:
    """What the writer needs of a selected frame besides its output."""
    camera: BagCamera
    log_ns: int
    index: int                      # its place among the selected frames (contact sheet rows)
    convert_s: float
    gt: np.ndarray | None


@dataclass
class _Step:
    """The frames of one batched forward, one per camera at most."""
    frames: list[_FrameToWrite]


@dataclass
class _CopiedMessage:
    """An input message copied as recorded, written in its place among the frames' outputs."""
    connection: Any
    log_ns: int
    rawdata: bytes


@dataclass
class _WriterStep:
    """Open the output writer (with the function that opens it) or, with None, close it."""
    open: Callable[[], Any] | None


class _BagRun:
    """State of one replay: transforms, recent clouds, images waiting; calibration and ground truth per camera."""

    def __init__(self, bag: Any, topics: RunTopics, cameras: list[BagCamera], config: Config, options: BagOptions,
                 stop_requested: Callable[[], bool]):
        from depthmaster_ros.geometry import TransformBuffer

        self.bag, self.topics, self.cameras = bag, topics, cameras
        self.config, self.options, self.stop_requested = config, options, stop_requested
        self.stats = BagStats()
        self.transforms = TransformBuffer(cache_s=max(10.0, 4 * PRELOAD_S))
        self.clouds = RecentClouds(capacity=64)
        self.pending: deque[_PendingImage] = deque()
        for camera in cameras:
            camera.assembly = self._assembly(camera)
        self.by_topic = {role: {getattr(camera.topics, role): camera for camera in cameras}
                         for role in ('image', 'camera_info', 'gt')}
        self.sheet_rows: list[Any] = []
        self.interrupted = False
        self.out: OutputBag | None = None                       # set by run()
        self._stopped = False
        self._steps: CameraSteps | None = None                  # set by replay(), in the reader thread
        self.output_topics: dict[str, str] = {}

        reader = bag.reader
        self.bag_start = reader.start_time
        self.window_start, self.window_stop = frame_window(bag, options)
        self.lookahead_ns = int(round((config.alignment.cloud_future_tolerance_s + LIDAR_LATENCY_ALLOWANCE_S) * 1e9))
        estimate = estimated_frames(bag, [camera.topics.image for camera in cameras], options)
        self.sheet_positions = sheet_positions(estimate, options.contact_sheet_rows) if options.contact_sheet else set()
        self.input_topics = ({topic for role in self.by_topic.values() for topic in role}
                             | {topics.points, *topics.tf}) - {None}
        self.progress = Progress(estimate, options.progress, options.frame_done)

    # replay ------------------------------------------------------------------------------------
    def run(self, out: OutputBag, open_writer: Callable[[], Any]) -> None:
        """Read ahead in a thread, forward here, finish and write in the frame path's stages (the writer
        is opened, used and closed in the writing stage's thread: an sqlite3 bag must be)."""
        self.out = out
        if len(self.cameras) == 1:
            self.output_topics = {role: self.cameras[0].out.topic(role) for role in OUTPUT_TOPICS}
        else:
            self.output_topics = {f'{camera.topics.name}/{role}': camera.out.topic(role)
                                  for camera in self.cameras for role in OUTPUT_TOPICS}
            if is_ring(self.config):
                self.output_topics['scan'] = out.topic('scan')
        frames = PipelinedFrames(self._emit, self.config.node.frames_in_flight, name='bag')
        reader = ReadAhead(self.replay, READ_AHEAD)
        try:
            frames.submit(FrameJob((), _WriterStep(open_writer)))
            for job in reader.jobs():
                if self._stopped:                   # the writer saw a stop: what was read ahead is not started
                    break
                frames.submit(job)
            frames.submit(FrameJob((), _WriterStep(None)))
        except BaseException:
            reader.close()
            frames.close(drop=True)
            raise
        reader.close()
        frames.close()

    def replay(self, send: Callable[[FrameJob], None]) -> None:
        """The reader's side: messages in log-time order, frames and copies sent in that order."""
        self._send = send
        self._steps = CameraSteps(len(self.cameras), send, _Step)
        copied = self._copied_topics()
        read_from = max(self.bag_start, self.window_start - int((self.config.alignment.max_cloud_age_s + PRELOAD_S) * 1e9))
        self._preload_latched_state(read_from, copy_tf_static='/tf_static' in copied)
        read_until = None if self.window_stop is None else self.window_stop + self.lookahead_ns
        wanted = [c for c in self.bag.reader.connections if c.topic in self.input_topics or c.topic in copied]
        for connection, log_ns, rawdata in self.bag.messages(wanted, start=read_from, stop=read_until):
            if not self._process_pending(until_ns=log_ns):
                self.interrupted = True
                return
            in_window = self._in_window(log_ns)
            if connection.topic in copied and (in_window or connection.topic == '/tf_static'):
                self._copy(connection, log_ns, rawdata)
            if connection.topic in self.by_topic['image']:
                if in_window:
                    self._image_arrived(connection, log_ns, rawdata)
            elif connection.topic in self.input_topics:
                self._state_arrived(connection, log_ns, rawdata)
        if not self._process_pending(until_ns=None):
            self.interrupted = True
        self._steps.flush()

    def _copy(self, connection, log_ns, rawdata):
        self._send(FrameJob((), _CopiedMessage(connection, log_ns, rawdata)))

    def _in_window(self, log_ns):
        return log_ns >= self.window_start and (self.window_stop is None or log_ns < self.window_stop)

    def _copied_topics(self):
        """Topics copied as recorded: TF always (RViz needs it for our outputs), all with --copy-input
        (the ground truth only with copy_gt)."""
        outputs = set(self.output_topics.values())
        copied = set()
        for entry in self.bag.entries():
            if not (self.options.copy_input or entry.name in self.topics.tf):
                continue
            if entry.name in self.by_topic['gt'] and not self.options.copy_gt:
                continue
            if entry.name in outputs:
                self.stats.warnings.record('copy', f'{entry.name}: not copied, it is also an output topic')
            else:
                copied.add(entry.name)
        return copied

    def _preload_latched_state(self, read_from, copy_tf_static):
        """/tf_static from the whole bag and the last CameraInfo before the window: both are latched.

        /tf_static recorded before the main read starts is also copied here, so a windowed output
        still carries it.
        """
        if '/tf_static' in self.topics.tf:
            for connection, log_ns, rawdata in self.bag.messages(self.bag.connections('/tf_static')):
                self._state_arrived(connection, log_ns, rawdata)
                if copy_tf_static and log_ns < read_from:
                    self._copy(connection, log_ns, rawdata)
        for camera_info in self.by_topic['camera_info']:
            if camera_info and self.window_start > self.bag_start:
                messages = self.bag.messages(self.bag.connections(camera_info), stop=self.window_start)
                last = deque(messages, maxlen=1)        # the newest CameraInfo before the window, if any
                if last:
                    self._state_arrived(*last[0])

    def _refused(self, error: ImplausibleSize, topic: str, log_ns: int) -> BagRefused:
        """A record whose sizes lie refuses the bag (bag/refusal.py); other bad input is only counted."""
        return BagRefused(self.bag.path, str(error), topic=topic, record=bag_topics.record_name(log_ns))

    def _state_arrived(self, connection, log_ns, rawdata):
        message = self.bag.decode(connection, log_ns, rawdata)
        topic, faults = connection.topic, self.stats.faults
        if topic in self.topics.tf:
            _add_tf_message(self.transforms, message, topic == '/tf_static', faults)
        elif topic in self.by_topic['camera_info']:   # a refusal is counted with each image that meets it
            self.by_topic['camera_info'][topic].assembly.add_camera_info(message)
        elif topic == self.topics.points:
            try:
                store_cloud(self.clouds, message, faults.record, self.options.cloud_filter, refuse_implausible=True)
            except ImplausibleSize as error:
                raise self._refused(error, topic, log_ns) from None
        elif topic in self.by_topic['gt']:
            try:
                add_ground_truth(self.by_topic['gt'][topic].ground_truth, message, faults)
            except ImplausibleSize as error:
                raise self._refused(error, topic, log_ns) from None

    def _image_arrived(self, connection, log_ns, rawdata):
        camera = self.by_topic['image'][connection.topic]
        self.stats.frames_in += 1
        camera.counts.in_window += 1
        if (camera.counts.in_window - 1) % self.options.every:
            return
        message = self.bag.decode(connection, log_ns, rawdata)
        self.pending.append(_PendingImage(camera, log_ns, message))

    def _process_pending(self, until_ns):
        """Process waiting images whose look-ahead has passed (all when until_ns is None); False on stop."""
        if self.stop_requested():
            return False
        while self.pending and (until_ns is None or self.pending[0].log_ns + self.lookahead_ns <= until_ns):
            self._process_image(self.pending.popleft())
            if self.stop_requested():
                return False
        return True

    def _assembly(self, camera: BagCamera) -> FrameAssembly:
        """A camera's frame assembly; CameraInfos by stamp: an image takes only the one of its own stamp (as the
        node does). Its faults and skips are counted with the camera's name."""
        def report(kind: str, text: str) -> None:
            self.stats.faults.record(kind, camera.label(text))

        def skip(reason: str, text: str) -> None:
            self.stats.frames_selected += 1
            camera.counts.selected += 1
            self._skipped(camera, reason, text)
        camera_sync = CameraInfoSync(self.config.input.camera_info_slop_s, self.config.input.camera_info_timeout_s,
                                     info_capacity=64)
        return FrameAssembly(camera_sync, self.clouds if self.topics.points else None, self.transforms,
                             report=report, skip=skip, live=False, refuse_implausible=True)

    def _skipped(self, camera: BagCamera, reason: str, text: str) -> None:
        self.stats.skipped.record(reason, camera.label(text))
        camera.counts.skipped.record(reason, text)
        self.progress.update()

    # one frame ---------------------------------------------------------------------------------
    def _process_image(self, item):
        """The reader's side of a frame: assembled and sent to the forward (or skipped, and counted)."""
        started, camera = time.perf_counter(), item.camera
        assert camera.assembly is not None          # set in __init__
        try:
            released = camera.assembly.add_image(item.message, self.config)
        except ImplausibleSize as error:
            raise self._refused(error, camera.topics.image, item.log_ns) from None
        if not released:
            return                                  # skipped (counted by the assembly)
        frame = camera.assembly.frame(released[0], self.config)
        assert frame is not None                    # a looked-up image is never dropped
        if frame.transforms is not None:            # the transforms as read so far, as a frame-by-frame run sees them
            frame = replace(frame, transforms=self.transforms.snapshot())
        convert_s = time.perf_counter() - started
        index = self.stats.frames_selected
        self.stats.frames_selected += 1
        camera.counts.selected += 1
        gt = camera.ground_truth.pop(frame.stamp_ns, None)
        assert self._steps is not None              # set by replay()
        self._steps.add(camera, frame, _FrameToWrite(camera, item.log_ns, index, convert_s, gt))

    def _emit(self, job: FrameJob, results: FrameResults) -> None:
        """The writer's side: a copied message, or a frame's outputs (or its skip), in the order read."""
        context, out = job.context, self.out
        assert out is not None                      # run() sets it before any job
        if isinstance(context, _WriterStep):
            if context.open is not None:
                out.writer = context.open()
                for camera in self.cameras:
                    camera.out.writer = out.writer
            else:
                out.writer.close()
            return
        if self._stopped:                           # a stop came after an earlier frame: nothing read ahead is written
            return
        if isinstance(context, _CopiedMessage):
            out.copy(context.connection, self.bag.typestore, context.log_ns, context.rawdata)
            return
        written = []
        for (_, frame), output, frame_context in zip(job.items, results, context.frames):
            if self._write_frame(frame, output, frame_context) and isinstance(output, FrameOutput):
                written.append((output, frame.stamp_ns, frame_context.log_ns))
        if is_ring(self.config):
            write_merged_scan(out, written, self.config.navigation.scan_frame)
        if self.stop_requested():                   # polled after each frame, as a frame-by-frame run does
            self._stopped = self.interrupted = True

    def _write_frame(self, frame: FrameInput, output: FrameOutput | Exception, context: _FrameToWrite) -> bool:
        """One camera's frame written under its namespace (True), or its skip counted (False)."""
        camera = context.camera
        if isinstance(output, ValueError):
            self._skipped(camera, kinds.FRAME, kinds.dropped(output))
            return False
        if isinstance(output, Exception):           # as in the node: one frame failing must not end the run
            self._skipped(camera, kinds.PIPELINE_ERROR, f'{type(output).__name__}: {output}')
            return False
        out = camera.out
        if self.options.frame_output is not None:
            self.options.frame_output(frame, output)
        started = time.perf_counter()
        if not out.write_frame(output, out.builders.header(frame.stamp_ns, frame.frame_id), context.log_ns):
            self.stats.faults.record('cloud_max_points',
                                     camera.label('cloud above cloud_max_points not written; raise cloud_stride'))
        write_s = time.perf_counter() - started
        gt = context.gt
        errors = None if gt is None else errors_against(output.depth_m, gt, self.config.alignment)
        self.stats.frame_written(output, {'convert': context.convert_s, **output.timings, 'write': write_s}, errors)
        camera.counts.out += 1
        if context.index in self.sheet_positions:
            from depthmaster_ros.bag.contact_sheet import SheetRow
            label = camera.label(f'#{context.index}  t={(context.log_ns - self.bag_start) * 1e-9:.2f} s')
            self.sheet_rows.append(SheetRow(rgb=frame.rgb, depth_m=output.depth_m, gt_m=gt, label=label))
        self.progress.update()
        return True


# ---------------------------------------------------------------------------------------------
# input messages into core types

def _add_tf_message(buffer, message, static, faults):
    from depthmaster_ros.geometry import store_tf_message
    for error in store_tf_message(buffer, message, static)[1]:
        faults.record('tf', error)
