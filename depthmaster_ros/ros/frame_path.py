"""The node's frame path, shared by the plain and the managed (lifecycle) node.

Callbacks only convert messages, pair each image with the camera_info of its stamp and hand a
FrameInput to a one-slot mailbox; one worker thread runs the pipeline and publishes, so a slow model
never blocks the executor and the newest frame always wins. Every fault is counted once, logged at
a throttled rate and reported on /diagnostics. The steps are split so a lifecycle node can run them
per transition: configure (`_configure`), activate (`_activate`), deactivate (`_deactivate`),
cleanup (`_release`).
"""
from dataclasses import dataclass
import threading
import time
from typing import TYPE_CHECKING, Any

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.config.settings import Config
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.pipeline.assembly import InputFault, camera_for_image, cloud_from_message, image_to_model_rgb
from depthmaster_ros.pipeline.camera_sync import CameraInfoSync, Paired
from depthmaster_ros.pipeline.cloud_pairing import RecentClouds
from depthmaster_ros.pipeline.depth_pipeline import DepthPipeline
from depthmaster_ros.pipeline.estimator_loading import load_configured_estimator, resolve_runtime
from depthmaster_ros.pipeline.faults import FaultCounters
from depthmaster_ros.pipeline.frames import FrameInput, FrameOutput
from depthmaster_ros.pipeline.outputs import OUTPUT_TOPICS, frame_messages

from . import messages
from .diagnostics import FAULT_WARN_S, NodeHealth, health_to_diagnostics
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
class _Image:
    rgb: Any
    header: Any              # the source image's std_msgs/Header
    stamp_ns: int
    received_monotonic: float


@dataclass
class _QueuedFrame:
    frame: FrameInput
    header: Any
    received_monotonic: float


class DepthFramePath(_NodeBase):
    """Mixin over an rclpy Node or LifecycleNode: parameters, model, topics, worker and diagnostics."""

    # configure ---------------------------------------------------------------------------------
    def _declare_parameters(self) -> None:
        self._config_lock = threading.Lock()
        self._pending_config: Config | None = None
        self.parameters = NodeParameters(self, on_change=self._config_changed)
        self._active = False
        self.pipeline: DepthPipeline | None = None

    @property
    def config(self) -> Config:
        return self.parameters.config

    def current_params(self) -> dict[str, Any]:
        return self.config.to_params()

    def _configure(self, estimator: Any = None) -> None:
        """Fresh state and the model (loaded from the parameters when estimator is None)."""
        config = self.config
        self.faults = FaultCounters(throttle_s=config.node.log_throttle_s)
        self.transforms = SharedTransformBuffer()
        self.clouds = RecentClouds()
        self.camera_sync = CameraInfoSync(config.input.camera_info_slop_s, config.input.camera_info_timeout_s)
        self.transport = TransportLoss(window_s=FAULT_WARN_S)
        device, dtype = resolve_runtime(config.model.device, config.model.dtype)
        if estimator is None:
            self.get_logger().info(f'loading {config.model.backend} model {config.model.model!r} on {device} ({dtype})')
            estimator = load_configured_estimator(config.model)
        self.health = NodeHealth({'backend': config.model.backend, 'model': config.model.model,
                                  'device': device, 'dtype': dtype})
        self.pipeline = DepthPipeline(estimator, config)

    def _config_changed(self, config: Config) -> None:
        """Accepted parameter changes take effect from the next frame the worker takes."""
        if self.pipeline is None:
            return                          # not configured yet: _configure reads the parameters
        self.faults.throttle_s = config.node.log_throttle_s
        self.camera_sync.configure(config.input.camera_info_slop_s, config.input.camera_info_timeout_s)
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
        self.tf_listener = TransformListener(self, self.transforms, on_error=lambda m: self._fault('tf', m))
        self._timers = [self.create_timer(config.node.diagnostics_period_s, self._publish_diagnostics),
                        self.create_timer(_SYNC_CHECK_S, self._expire_waiting_images)]
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name='depthmaster_worker', daemon=True)
        self._worker.start()
        self._active = True

    def _deactivate(self) -> None:
        """Stop the worker and remove every subscription, publisher and timer (no work, no traffic)."""
        self.stop_worker()
        for sub in [self.image_sub, self.camera_info_sub, self.points_sub, *self.tf_listener.subscriptions]:
            if sub is not None:
                self.destroy_subscription(sub)
        for pub in [*self.output_pubs.values(), self.diagnostics_pub]:
            self.destroy_publisher(pub)
        for timer in self._timers:
            self.destroy_timer(timer)
        self._active = False

    def _release(self) -> None:
        """Drop the model and free the GPU memory it held."""
        self.pipeline = None
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
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        qos = output_qos(self.config.node.output_reliability)
        types = {'depth': Image, 'depth_mm': Image, 'camera_info': CameraInfo, 'relative': Image,
                 'confidence': Image, 'points': PointCloud2, 'alignment': DepthAlignment}
        self.output_pubs = {name: self.create_publisher(types[name], topic, qos)
                            for name, topic in OUTPUT_TOPICS.items()}
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', diagnostics_qos())

    def _create_subscriptions(self) -> None:
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        config = self.config
        self._input_qos = input_stream_qos(config.node.input_qos_depth, config.node.input_reliability)
        image_type, topic = (CompressedImage, 'image/compressed') if config.input.image_transport == 'compressed' \
            else (Image, 'image')
        self.image_sub = self.create_subscription(image_type, topic, self._on_image, self._input_qos)
        self.camera_info_sub = self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info,
                                                        self._input_qos)
        self.points_sub: Any = None
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

    def _has_subscribers(self) -> bool:
        return any(pub.get_subscription_count() > 0 for pub in self.output_pubs.values())

    # input callbacks: convert, pair and hand off, never wait on the model ------------------------
    def _on_camera_info(self, msg: Any, info: Any) -> None:
        self.transport.observe('camera_info', info)
        stamp_ns = messages.stamp_to_ns(msg.header.stamp)
        try:
            released = self.camera_sync.add_info(stamp_ns, CameraModel.from_camera_info(msg))
        except ValueError as error:
            self._fault('camera_info', str(error))
            released = self.camera_sync.add_info(stamp_ns, None, str(error))
        for paired in released:
            self._dispatch(paired)

    def _on_points(self, msg: Any, info: Any) -> None:
        self.transport.observe('points', info)
        try:
            self.clouds.add(cloud_from_message(msg))
        except InputFault as fault:
            self._fault(fault.kind, str(fault))

    def _on_image(self, msg: Any, info: Any) -> None:
        received = time.monotonic()
        self.transport.observe('image', info)
        self.health.frame_received()
        config = self.config
        if config.node.lazy and not self._has_subscribers():
            self.health.idle = 'lazy: no subscriber to any depth output, no inference'
            self.health.output_skipped('lazy')
            return
        self.health.idle = ''
        try:
            rgb = image_to_model_rgb(msg, config.input.max_pixels)
        except ValueError as error:
            self._fault('image', f'{error}; frame dropped')
            return
        stamp_ns = messages.stamp_to_ns(msg.header.stamp)
        wait = get_mode(config.alignment.alignment_mode).metric
        for paired in self.camera_sync.add_image(_Image(rgb, msg.header, stamp_ns, received), stamp_ns, wait):
            self._dispatch(paired)
        self.health.waiting_for = 'camera_info' if self.camera_sync.waiting else ''

    def _expire_waiting_images(self) -> None:
        for paired in self.camera_sync.expire():
            self._dispatch(paired)
        if not self.camera_sync.waiting:
            self.health.waiting_for = ''

    def _dispatch(self, paired: Paired) -> None:
        """An image with its camera (or none, and why) becomes a frame in the mailbox."""
        if paired.fault:
            self._fault(paired.fault, paired.reason)
        if paired.dropped:
            return
        image: _Image = paired.item
        camera = paired.camera
        if camera is not None:
            try:
                camera = camera_for_image(camera, image.rgb.shape[1], image.rgb.shape[0])
            except InputFault as fault:
                self._fault(fault.kind, str(fault))
                camera = None
        config = self.config
        cloud, miss_reason = None, ''
        if get_mode(config.alignment.alignment_mode).needs_cloud:
            cloud, miss_reason = self.clouds.select(image.stamp_ns, config.alignment.max_cloud_age_s,
                                                    config.alignment.cloud_future_tolerance_s)
            if cloud is None:
                self._fault('points_missing', miss_reason)
        frame = FrameInput(rgb=image.rgb, stamp_ns=image.stamp_ns, frame_id=image.header.frame_id, camera=camera,
                           cloud=cloud, transforms=self.transforms if config.alignment.use_tf else None,
                           cloud_miss_reason=miss_reason)
        self.mailbox.put(_QueuedFrame(frame, image.header, image.received_monotonic))

    # worker ----------------------------------------------------------------------------------------
    def _work(self) -> None:
        pipeline = self.pipeline
        assert pipeline is not None
        try:
            while not self._stop.is_set():
                item = self.mailbox.take(timeout=0.1)
                if item is None:
                    continue
                with self._config_lock:
                    config, self._pending_config = self._pending_config, None
                if config is not None:
                    pipeline.update_config(config)
                self._process_and_publish(pipeline, item)
        except Exception as error:  # noqa: BLE001 - reported on /diagnostics; the node keeps its topics
            self.health.worker_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(f'worker stopped: {self.health.worker_error}')

    def _process_and_publish(self, pipeline: DepthPipeline, item: _QueuedFrame) -> None:
        try:
            output = pipeline.process(item.frame)
        except ValueError as error:
            self._fault('frame', f'{error}; frame dropped')
            return
        except Exception as error:  # noqa: BLE001 - one bad frame must not stop the node
            self._fault('pipeline_error', f'{type(error).__name__}: {error}', 'error')
            return
        for warning in output.warnings:
            self._fault(warning.kind, warning.text)
        if self._stop.is_set():
            return
        try:
            self._publish(pipeline, item, output)
        except Exception as error:  # noqa: BLE001 - a message that fails to build must not stop the worker
            self._fault('publish_error', f'{type(error).__name__}: {error}', 'error')
            return
        # latency from the receipt time: an image stamp may be zero, repeated or from another clock
        latency = time.monotonic() - item.received_monotonic
        timings = dict(output.timings)
        timings['receipt_to_publish'] = latency
        self.health.frame_published(latency, timings)
        self.health.last_record = output.record

    def _publish(self, pipeline: DepthPipeline, item: _QueuedFrame, output: FrameOutput) -> None:
        produced = frame_messages(output, item.header, pipeline.config.output, messages)
        if produced.cloud_withheld:
            self.health.output_skipped('cloud')
            self._fault('cloud_max_points', f'cloud of {produced.cloud_withheld} points is above cloud_max_points '
                                            f'{pipeline.config.output.cloud_max_points}; not published '
                                            '(raise cloud_stride)')
        for name, message in produced.messages:
            self.output_pubs[name].publish(message)

    def _publish_diagnostics(self) -> None:
        snapshot = self.health.snapshot(self.mailbox.counters(), self.faults.counts(), self.faults.last_messages(),
                                        self.faults.recent(FAULT_WARN_S), self.transport.snapshot())
        self.diagnostics_pub.publish(health_to_diagnostics(snapshot, self.get_name(), self.get_clock().now().to_msg()))

    # shutdown --------------------------------------------------------------------------------------
    def stop_worker(self, timeout_s: float = 2.0) -> bool:
        """Stop taking frames and join the worker (a frame in the model finishes first)."""
        if not hasattr(self, '_worker'):
            return True                     # never activated
        self._stop.set()
        self.mailbox.close()
        self._worker.join(timeout_s)
        return not self._worker.is_alive()
