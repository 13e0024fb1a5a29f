"""depthmaster_node: the rclpy adapter over the ROS-free pipeline.

Callbacks only convert messages and hand a FrameInput to a one-slot mailbox; one worker thread
runs the pipeline and publishes, so a slow model never blocks the executor and the newest frame
always wins. Every fault is counted once, logged at a throttled rate and reported on /diagnostics.
"""
from dataclasses import dataclass
import threading
import time
from typing import Any

from rclpy.node import Node

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.config.settings import Config
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.pipeline.assembly import InputFault, camera_for_image, cloud_from_message, image_to_model_rgb
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

NODE_NAME = 'depthmaster_node'


@dataclass
class _QueuedFrame:
    frame: FrameInput
    header: Any              # the source image's std_msgs/Header
    received_monotonic: float


class DepthMasterNode(Node):
    """Subscribes image (+camera_info, points, /tf), publishes depth, cloud, alignment, diagnostics.

    estimator: an already loaded estimator (tests, embedding); None loads the one the parameters name.
    """

    def __init__(self, estimator: Any = None, node_name: str = NODE_NAME, **node_kwargs: Any):
        super().__init__(node_name, **node_kwargs)
        self._config_lock = threading.Lock()
        self._pending_config: Config | None = None
        self.parameters = NodeParameters(self, on_change=self._config_changed)
        config = self.config
        self.faults = FaultCounters(throttle_s=config.node.log_throttle_s)
        self.mailbox = LatestFrameMailbox()
        self.transforms = SharedTransformBuffer()
        self.clouds = RecentClouds()

        device, dtype = resolve_runtime(config.model.device, config.model.dtype)
        if estimator is None:
            self.get_logger().info(f'loading {config.model.backend} model {config.model.model!r} on {device} ({dtype})')
            estimator = load_configured_estimator(config.model)
        self.health = NodeHealth({'backend': config.model.backend, 'model': config.model.model,
                                  'device': device, 'dtype': dtype})
        self.pipeline = DepthPipeline(estimator, config)
        self._camera: CameraModel | None = None      # from the newest valid camera_info
        self._first_image_monotonic: float | None = None

        self._create_publishers()
        self._create_subscriptions()
        self.tf_listener = TransformListener(self, self.transforms, on_error=lambda m: self._fault('tf', m))
        self._diagnostics_timer = self.create_timer(config.node.diagnostics_period_s, self._publish_diagnostics)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name='depthmaster_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(f'ready: {config.input.image_transport} images, alignment '
                               f'{config.alignment.alignment_mode}, processing_res {config.model.processing_res}')

    @property
    def config(self) -> Config:
        return self.parameters.config

    def current_params(self) -> dict[str, Any]:
        return self.config.to_params()

    def _config_changed(self, config: Config) -> None:
        """Accepted parameter changes take effect from the next frame the worker takes."""
        self.faults.throttle_s = config.node.log_throttle_s
        with self._config_lock:
            self._pending_config = config
        if get_mode(config.alignment.alignment_mode).needs_cloud:
            self._ensure_points_subscription()

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
        if config.input.image_transport == 'compressed':
            self.image_sub = self.create_subscription(CompressedImage, 'image/compressed', self._on_image,
                                                      self._input_qos)
        else:
            self.image_sub = self.create_subscription(Image, 'image', self._on_image, self._input_qos)
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

    # input callbacks: convert and hand off, never wait on the model -------------------------------
    def _on_camera_info(self, msg: Any) -> None:
        try:
            self._camera = CameraModel.from_camera_info(msg)
        except ValueError as error:
            self._fault('camera_info', str(error))

    def _on_points(self, msg: Any) -> None:
        try:
            self.clouds.add(cloud_from_message(msg))
        except InputFault as fault:
            self._fault(fault.kind, str(fault))

    def _on_image(self, msg: Any) -> None:
        received = time.monotonic()
        self.health.frame_received()
        config = self.config
        try:
            rgb = image_to_model_rgb(msg, config.input.max_pixels)
        except ValueError as error:
            self._fault('image', f'{error}; frame dropped')
            return
        stamp_ns = messages.stamp_to_ns(msg.header.stamp)
        camera, proceed = self._camera_for(rgb.shape, received)
        if not proceed:
            return
        cloud, miss_reason = None, ''
        if get_mode(config.alignment.alignment_mode).needs_cloud:
            cloud, miss_reason = self.clouds.select(stamp_ns, config.alignment.max_cloud_age_s,
                                                    config.alignment.cloud_future_tolerance_s)
            if cloud is None:
                self._fault('points_missing', miss_reason)
        frame = FrameInput(rgb=rgb, stamp_ns=stamp_ns, frame_id=msg.header.frame_id, camera=camera, cloud=cloud,
                           transforms=self.transforms if config.alignment.use_tf else None,
                           cloud_miss_reason=miss_reason)
        self.mailbox.put(_QueuedFrame(frame, msg.header, received))

    def _camera_for(self, shape: tuple[int, ...], received: float) -> tuple[CameraModel | None, bool]:
        """(camera model for this image size or None, whether to process the frame now)."""
        camera, timeout_s = self._camera, self.config.input.camera_info_timeout_s
        if self._first_image_monotonic is None:
            self._first_image_monotonic = received
        self.health.waiting_for = ''
        if camera is not None:
            try:
                return camera_for_image(camera, shape[1], shape[0]), True
            except InputFault as fault:
                self._fault(fault.kind, str(fault))
                return None, True
        if not get_mode(self.config.alignment.alignment_mode).needs_camera:
            return None, True
        waited = received - self._first_image_monotonic
        if waited < timeout_s:
            self.health.waiting_for = 'camera_info'
            self._fault('camera_info_wait', f'no camera_info yet; waiting up to {timeout_s:g} s, frame dropped')
            return None, False
        self._fault('camera_info_missing', f'no valid camera_info after {waited:.1f} s: publishing '
                                           'relative depth only (no metric depth, no cloud)')
        return None, True

    # worker ----------------------------------------------------------------------------------------
    def _work(self) -> None:
        try:
            while not self._stop.is_set():
                item = self.mailbox.take(timeout=0.1)
                if item is None:
                    continue
                with self._config_lock:
                    config, self._pending_config = self._pending_config, None
                if config is not None:
                    self.pipeline.update_config(config)
                self._process_and_publish(item)
        except Exception as error:  # noqa: BLE001 - reported on /diagnostics; the node keeps its topics
            self.health.worker_error = f'{type(error).__name__}: {error}'
            self.get_logger().error(f'worker stopped: {self.health.worker_error}')

    def _process_and_publish(self, item: _QueuedFrame) -> None:
        try:
            output = self.pipeline.process(item.frame)
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
            self._publish(item, output)
        except Exception as error:  # noqa: BLE001 - a message that fails to build must not stop the worker
            self._fault('publish_error', f'{type(error).__name__}: {error}', 'error')
            return
        latency = (self.get_clock().now().nanoseconds - item.frame.stamp_ns) * 1e-9
        timings = dict(output.timings)
        timings['receipt_to_publish'] = time.monotonic() - item.received_monotonic
        self.health.frame_published(latency, timings)
        self.health.last_record = output.record

    def _publish(self, item: _QueuedFrame, output: FrameOutput) -> None:
        produced = frame_messages(output, item.header, self.pipeline.config.output, messages)
        if produced.cloud_withheld:
            self.health.output_skipped('cloud')
            self._fault('cloud_max_points', f'cloud of {produced.cloud_withheld} points is above cloud_max_points '
                                            f'{self.pipeline.config.output.cloud_max_points}; not published '
                                            '(raise cloud_stride)')
        for name, message in produced.messages:
            self.output_pubs[name].publish(message)

    def _publish_diagnostics(self) -> None:
        snapshot = self.health.snapshot(self.mailbox.counters(), self.faults.counts(), self.faults.last_messages(),
                                        self.faults.recent(FAULT_WARN_S))
        self.diagnostics_pub.publish(health_to_diagnostics(snapshot, self.get_name(), self.get_clock().now().to_msg()))

    # shutdown --------------------------------------------------------------------------------------
    def stop_worker(self, timeout_s: float = 2.0) -> bool:
        """Stop taking frames and join the worker (a frame in the model finishes first)."""
        if not hasattr(self, '_worker'):
            return True                     # construction failed before the worker started
        self._stop.set()
        self.mailbox.close()
        self._worker.join(timeout_s)
        return not self._worker.is_alive()

    def destroy_node(self) -> None:
        self.stop_worker()
        super().destroy_node()
