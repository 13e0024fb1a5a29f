"""The node's frame path, shared by the plain and the managed (lifecycle) node.

Callbacks only hand messages to their camera's frame assembly (pipeline/assembly.py: conversion,
camera_info and cloud pairing, the same as the bag tool's) and put the FrameInput it makes in the
camera's one-slot mailbox; one worker thread takes every camera's pending frame once the pipelined
frame path (pipeline/pipelined.py) has a slot free, and that path runs them through one batched
forward, finishes them in order and publishes each under its camera, so a slow model never blocks
the executor, the host work of one frame overlaps the forward of the next, and each camera's newest
frame always wins. Every fault is counted once, logged at
a throttled rate and reported on /diagnostics. The steps are split so a lifecycle node can run them
per transition: configure (`_configure`), activate (`_activate`), deactivate (`_deactivate`),
cleanup (`_release`); every attribute they set is created, empty, in `_init_frame_path`.
"""
from dataclasses import dataclass
from functools import partial
import threading
import time
from typing import TYPE_CHECKING, Any

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.config import Config, image_size
from depthmaster_ros.model import RANDOM_WEIGHTS_BANNER, Estimator
from depthmaster_ros.pipeline import (
    OUTPUT_TOPICS,
    CameraInfoSync,
    ConvertedImage,
    DepthPipeline,
    FaultCounters,
    FrameAssembly,
    FrameInput,
    FrameJob,
    FrameOutput,
    FrameResults,
    Paired,
    PipelinedFrames,
    RecentClouds,
    faults,
    frame_messages,
    is_ring,
    load_configured_estimator,
    merged_scan,
    resolve_runtime,
    store_cloud,
)

from . import messages
from .camera_channel import CameraChannel, camera_label
from .diagnostics import FAULT_WARN_S, NodeHealth, health_to_diagnostics, weights_info
from .mailbox import LatestFrameMailbox
from .parameters import NodeParameters
from .qos import diagnostics_qos, input_stream_qos, output_qos
from .tf_listener import SharedTransformBuffer, TransformListener
from .transport_stats import TransportLoss

if TYPE_CHECKING:                       # a mixin over rclpy's Node (or LifecycleNode, a Node too)
    from rclpy.node import Node as _NodeBase
else:
    _NodeBase = object

# how often images waiting for their camera_info are checked against camera_info_timeout_s
_SYNC_CHECK_S = 1.0


@dataclass
class _QueuedFrame:
    frame: FrameInput
    header: Any
    received_monotonic: float


class DepthFramePath(_NodeBase):
    """Mixin over an rclpy Node or LifecycleNode: parameters, model, topics, worker and diagnostics."""

    # state -------------------------------------------------------------------------------------
    def _init_frame_path(self) -> None:
        """The parameters, and every attribute of the frame path, empty until configure and activate fill them."""
        self._config_lock = threading.Lock()
        self._pending_config: Config | None = None
        self.parameters = NodeParameters(self, on_change=self._config_changed)
        # configure: the cameras (each with its model pipeline) and the state they share
        self.channels: list[CameraChannel] = []
        self._fresh_shared_state()
        # activate: topics, timers and the worker
        self._active = False
        self.mailbox = LatestFrameMailbox()
        self.diagnostics_pub: Any = None
        self.ring_scan_pub: Any = None      # a camera ring's merged depth/scan (scan_merge), else None
        self.points_sub: Any = None
        self._input_qos: Any = None
        self.tf_listener: TransformListener | None = None
        self._timers: list[Any] = []
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._frames: PipelinedFrames | None = None

    def _fresh_shared_state(self) -> None:
        """What the cameras share: fault counters, transforms, recent clouds and transport statistics."""
        self.faults = FaultCounters(throttle_s=self.config.node.log_throttle_s)
        self.transforms = SharedTransformBuffer()
        self.clouds = RecentClouds()
        self.transport = TransportLoss(window_s=FAULT_WARN_S)

    @property
    def config(self) -> Config:
        return self.parameters.config

    def current_params(self) -> dict[str, Any]:
        return self.config.to_params()

    def _configure(self, estimator: Estimator | None = None) -> None:
        """Fresh state and the model (loaded from the parameters when estimator is None)."""
        config = self.config
        self._fresh_shared_state()
        device, dtype = resolve_runtime(config.model.device, config.model.dtype)
        if estimator is None:
            self.get_logger().info(f'loading {config.model.backend} model {config.model.model!r} on {device} ({dtype})')
            estimator = load_configured_estimator(config.model)
        model_info: dict[str, Any] = {'backend': config.model.backend, 'model': config.model.model,
                                      'device': device, 'dtype': dtype, 'compile': config.model.compile,
                                      **weights_info(config.model.model)}
        if model_info['random_weights']:
            self.get_logger().warning(RANDOM_WEIGHTS_BANNER)
        names = config.node.cameras or ('',)
        model_info.update(self._warm_up(estimator, config, len(names)))
        self.channels = [CameraChannel(key, name, DepthPipeline(estimator, config), self._assembly(name, config),
                                       NodeHealth(model_info))
                         for key, name in enumerate(names)]

    def _assembly(self, name: str, config: Config) -> FrameAssembly:
        """One camera's frame assembly over the shared clouds and transforms; its faults carry its name."""
        def report(kind: str, message: str) -> None:
            self._fault(kind, camera_label(name, message))
        sync = CameraInfoSync(config.input.camera_info_slop_s, config.input.camera_info_timeout_s)
        def resolved(relative: str) -> str:          # the topic after namespaces and remapping
            return self.resolve_topic_name(f'{name}/{relative}' if name else relative)
        image = 'image/compressed' if config.input.image_transport == 'compressed' else 'image'
        listening = f'camera_info from {resolved("camera_info")}, images from {resolved(image)}'
        return FrameAssembly(sync, self.clouds, self.transforms, report=report, skip=report, live=True,
                             listening=listening)

    def _warm_up(self, estimator: Estimator, config: Config, cameras: int) -> dict[str, Any]:
        """Run warm_up_sizes through the model at every batch size up to `cameras`; what to report."""
        sizes = [image_size(entry) for entry in config.model.warm_up_sizes]
        if not sizes:
            return {}
        try:
            seconds = estimator.warm_up(sizes, config.model.processing_res, tuple(range(1, cameras + 1)))
        except Exception as error:  # noqa: BLE001 - the node still serves; its first frames pay the compile
            self.get_logger().error(f'warm-up failed ({type(error).__name__}: {error}); the first frame of each '
                                    'size will compile instead')
            return {'warm_up': f'failed: {type(error).__name__}'}
        total = sum(seconds.values())
        self.get_logger().info(f'warm-up (compile {config.model.compile}) of {len(seconds)} shapes took {total:.1f} s: '
                               + ', '.join(f'{shape} {s:.2f} s' for shape, s in seconds.items()))
        return {'warm_up_s': round(total, 3), 'warm_up_shapes': len(seconds)}

    def _config_changed(self, config: Config) -> None:
        """Accepted parameter changes take effect from the next frame the worker takes."""
        if not self.channels:
            return                          # not configured yet: _configure reads the parameters
        self.faults.throttle_s = config.node.log_throttle_s
        for channel in self.channels:
            channel.camera_sync.configure(config.input.camera_info_slop_s, config.input.camera_info_timeout_s)
        with self._config_lock:
            self._pending_config = config
        if self._active and get_mode(config.alignment.alignment_mode).needs_cloud:
            self._ensure_points_subscription()

    # activate / deactivate -----------------------------------------------------------------------
    def _activate(self) -> None:
        """Publishers, subscriptions, timers and the worker."""
        config = self.config
        self.mailbox = LatestFrameMailbox()
        self._create_publishers()
        self._create_subscriptions()
        self._stop = threading.Event()
        self._frames = PipelinedFrames(self._emit, config.node.frames_in_flight, name='depthmaster')
        self.tf_listener = TransformListener(self, self.transforms, on_error=lambda m: self._fault('tf', m))
        self._timers = [self.create_timer(config.node.diagnostics_period_s, self._publish_diagnostics),
                        self.create_timer(_SYNC_CHECK_S, self._expire_waiting_images)]
        self._worker = threading.Thread(target=self._work, name='depthmaster_worker', daemon=True)
        self._worker.start()
        self._active = True

    def _deactivate(self) -> None:
        """Stop the worker and remove every subscription, publisher and timer (no work, no traffic)."""
        self.stop_worker()
        camera_subs = [sub for channel in self.channels for sub in (channel.image_sub, channel.camera_info_sub)]
        tf_subs = self.tf_listener.subscriptions if self.tf_listener is not None else []
        for sub in [*camera_subs, self.points_sub, *tf_subs]:
            if sub is not None:
                self.destroy_subscription(sub)
        camera_pubs = [pub for channel in self.channels for pub in channel.output_pubs.values()]
        ring_pubs = [self.ring_scan_pub] if self.ring_scan_pub is not None else []
        for pub in [*camera_pubs, *ring_pubs, self.diagnostics_pub]:
            self.destroy_publisher(pub)
        self.ring_scan_pub = None
        for timer in self._timers:
            self.destroy_timer(timer)
        self.points_sub, self.tf_listener, self._timers = None, None, []
        self._active = False

    def _release(self) -> None:
        """Drop the model and free the GPU memory it held."""
        self.channels = []
        import gc
        gc.collect()
        try:
            import torch
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    # topics --------------------------------------------------------------------------------------
    def _create_publishers(self) -> None:
        from depthmaster_interfaces.msg import DepthAlignment
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image, LaserScan, PointCloud2
        qos = output_qos(self.config.node.output_reliability)
        types = {'depth': Image, 'depth_mm': Image, 'camera_info': CameraInfo, 'relative': Image,
                 'confidence': Image, 'points': PointCloud2, 'alignment': DepthAlignment, 'scan': LaserScan,
                 'obstacles': PointCloud2}
        for channel in self.channels:
            channel.output_pubs = {name: self.create_publisher(types[name], channel.topic(topic), qos)
                                   for name, topic in OUTPUT_TOPICS.items()}
        # a camera ring's one scan, in the node's namespace (each camera's own depth/scan stays unpublished)
        self.ring_scan_pub = self.create_publisher(LaserScan, OUTPUT_TOPICS['scan'], qos) \
            if is_ring(self.config) else None
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', diagnostics_qos())

    def _create_subscriptions(self) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        config = self.config
        self._input_qos = input_stream_qos(config.node.input_qos_depth, config.node.input_reliability)
        image_type, topic = (CompressedImage, 'image/compressed') if config.input.image_transport == 'compressed' \
            else (Image, 'image')
        for channel in self.channels:
            channel.image_sub = self.create_subscription(image_type, channel.topic(topic),
                                                         partial(self._on_image, channel), self._input_qos)
            channel.camera_info_sub = self.create_subscription(CameraInfo, channel.topic('camera_info'),
                                                               partial(self._on_camera_info, channel), self._input_qos)
        if get_mode(config.alignment.alignment_mode).needs_cloud:
            self._ensure_points_subscription()

    def _ensure_points_subscription(self) -> None:
        from sensor_msgs.msg import PointCloud2
        if self.points_sub is None:
            self.points_sub = self.create_subscription(PointCloud2, 'points', self._on_points, self._input_qos)

    def _fault(self, kind: str, message: str, level: str = 'warning') -> None:
        """Count one fault; its log line is throttled per kind (the one throttle of the node)."""
        if self.faults.record(kind, message):
            getattr(self.get_logger(), level)(f'{kind}: {message} (repeats are counted on /diagnostics, logged '
                                              f'at most every {self.config.node.log_throttle_s:g} s)')

    # input callbacks: convert, pair and hand off, never wait on the model ------------------------
    def _on_camera_info(self, channel: CameraChannel, msg: Any, info: Any) -> None:
        self.transport.observe(channel.topic('camera_info'), info)
        for paired in channel.assembly.add_camera_info(msg):
            self._dispatch(channel, paired)

    def _on_points(self, msg: Any, info: Any) -> None:
        self.transport.observe('points', info)
        store_cloud(self.clouds, msg, self._fault)

    def _on_image(self, channel: CameraChannel, msg: Any, info: Any) -> None:
        received = time.monotonic()
        self.transport.observe(channel.topic('image'), info)
        health = channel.health
        health.frame_received()
        config = self.config
        ring_listened = self.ring_scan_pub is not None and self.ring_scan_pub.get_subscription_count() > 0
        if config.node.lazy and not channel.has_subscribers() and not ring_listened:
            health.idle = 'lazy: no subscriber to any depth output, no inference'
            health.output_skipped('lazy')
            return
        health.idle = ''
        for paired in channel.assembly.add_image(msg, config, tag=received):
            self._dispatch(channel, paired)
        health.waiting_for = 'camera_info' if channel.camera_sync.waiting else ''

    def _expire_waiting_images(self) -> None:
        for channel in self.channels:
            for paired in channel.assembly.expire():
                self._dispatch(channel, paired)
            if not channel.camera_sync.waiting:
                channel.health.waiting_for = ''

    def _dispatch(self, channel: CameraChannel, paired: Paired) -> None:
        """A released image becomes a frame in its camera's mailbox slot (unless it was dropped)."""
        frame = channel.assembly.frame(paired, self.config)
        if frame is not None:
            image: ConvertedImage = paired.item
            self.mailbox.put(_QueuedFrame(frame, image.header, image.tag), key=channel.key)

    # worker ----------------------------------------------------------------------------------------
    def _work(self) -> None:
        """Take every camera's pending frame once a slot is free (a frame still waiting can be replaced)."""
        channels = {channel.key: channel for channel in self.channels}
        frames = self._frames
        assert frames is not None               # created with the worker in _activate
        try:
            while not self._stop.is_set():
                if not frames.wait_for_slot(timeout=0.1):
                    continue
                taken = self.mailbox.take_all(timeout=0.1)
                if not taken:
                    continue
                with self._config_lock:
                    config, self._pending_config = self._pending_config, None
                if config is not None:
                    frames.drain()              # the frames in flight finish under the parameters they began with
                    for channel in channels.values():
                        channel.pipeline.update_config(config)
                batch = [(channels[key], item) for key, item in taken]
                frames.submit(FrameJob([(channel.pipeline, item.frame) for channel, item in batch], batch))
        except Exception as error:  # noqa: BLE001 - reported on /diagnostics; the node keeps its topics
            for channel in channels.values():
                channel.health.worker_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(f'worker stopped: {type(error).__name__}: {error}')

    def _emit(self, job: FrameJob, results: FrameResults) -> None:
        """The frame path's last stage: every camera's output published under its camera, faults counted."""
        batch: list[tuple[CameraChannel, _QueuedFrame]] = job.context
        ring = []
        for (channel, item), output in zip(batch, results):
            if isinstance(output, ValueError):
                self._fault(faults.FRAME, channel.label(faults.dropped(output)))
            elif isinstance(output, Exception):
                self._fault(faults.PIPELINE_ERROR, channel.label(f'{type(output).__name__}: {output}'), 'error')
            else:
                self._publish_output(channel, item, output)
                navigation = output.navigation
                if navigation is not None and navigation.merged and navigation.scan is not None:
                    ring.append((navigation.scan, item.frame.stamp_ns))
        if ring and self.ring_scan_pub is not None and not self._stop.is_set():
            self._publish_ring_scan(ring)

    def _publish_ring_scan(self, scans: list) -> None:
        """One scan over the cameras of this batch, stamped with the oldest contributing image."""
        try:
            scan, stamp_ns = merged_scan(scans)
            self.ring_scan_pub.publish(messages.scan_msg(scan, messages.header_msg(stamp_ns,
                                                                                   self.config.navigation.scan_frame)))
        except Exception as error:  # noqa: BLE001 - a message that fails to build must not stop the worker
            self._fault('publish_error', f'merged scan: {type(error).__name__}: {error}', 'error')

    def _publish_output(self, channel: CameraChannel, item: _QueuedFrame, output: FrameOutput) -> None:
        for warning in output.warnings:
            self._fault(warning.kind, channel.label(warning.text))
        if self._stop.is_set():
            return
        try:
            self._publish(channel, item, output)
        except Exception as error:  # noqa: BLE001 - a message that fails to build must not stop the worker
            self._fault('publish_error', channel.label(f'{type(error).__name__}: {error}'), 'error')
            return
        # latency from the receipt time: an image stamp may be zero, repeated or from another clock
        latency = time.monotonic() - item.received_monotonic
        timings = dict(output.timings)
        timings['receipt_to_publish'] = latency
        channel.health.frame_published(latency, timings)
        channel.health.last_record = output.record

    def _publish(self, channel: CameraChannel, item: _QueuedFrame, output: FrameOutput) -> None:
        produced = frame_messages(output, item.header, channel.pipeline.config.output, messages)
        if produced.cloud_withheld:
            channel.health.output_skipped('cloud')
            self._fault('cloud_max_points', channel.label(
                f'cloud of {produced.cloud_withheld} points is above cloud_max_points '
                f'{channel.pipeline.config.output.cloud_max_points}; not published (raise cloud_stride)'))
        for name, message in produced.messages:
            channel.output_pubs[name].publish(message)

    def _publish_diagnostics(self) -> None:
        shared = (self.faults.counts(), self.faults.last_messages(), self.faults.recent(FAULT_WARN_S),
                  self.transport.snapshot())
        snapshot = self.channels[0].health.snapshot(self.mailbox.counters(), *shared)
        cameras = [(channel.name, channel.health.snapshot(self.mailbox.counters(channel.key), *shared))
                   for channel in self.channels if channel.name]
        self.diagnostics_pub.publish(health_to_diagnostics(snapshot, self.get_name(), self.get_clock().now().to_msg(),
                                                           cameras=cameras))

    # shutdown --------------------------------------------------------------------------------------
    def stop_worker(self, timeout_s: float = 2.0) -> bool:
        """Stop taking frames, join the worker and the frame path (a forward under way finishes first;
        frames in flight are dropped, nothing is published after the stop)."""
        if self._worker is None:
            return True                     # never activated
        deadline = time.monotonic() + timeout_s
        self._stop.set()
        self.mailbox.close()
        self._worker.join(timeout_s)
        stopped = self._frames is None or self._frames.close(drop=True, timeout=max(0.0, deadline - time.monotonic()))
        return stopped and not self._worker.is_alive()
