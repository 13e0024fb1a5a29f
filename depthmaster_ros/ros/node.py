"""depthmaster_node: the rclpy adapter over the ROS-free pipeline.

Callbacks only convert messages and hand a FrameInput to a one-slot mailbox; one worker thread
runs the pipeline and publishes, so a slow model never blocks the executor and the newest frame
always wins. Every input fault is counted, logged at a throttled rate and reported on /diagnostics.
"""
from dataclasses import dataclass
import os
import signal
import sys
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType,
                                SetParametersResult)
from rclpy.parameter import Parameter

from depthmaster_ros import parameters as params_table
from depthmaster_ros.cloud_pairing import RecentClouds, StampedCloud
from depthmaster_ros.fault_counters import FaultCounters
from depthmaster_ros.mailbox import LatestFrameMailbox
from depthmaster_ros.frame_outputs import OUTPUT_TOPICS, frame_messages
from depthmaster_ros.pipeline import (CloudInput, DepthPipeline, FrameInput, PipelineConfig,
                                      load_estimator_from_params, resolve_runtime)
from depthmaster_ros.point_cloud import read_xyz
from depthmaster_ros.ros import messages
from depthmaster_ros.ros.diagnostics import FAULT_WARN_S, NodeHealth, health_to_diagnostics
from depthmaster_ros.ros.qos import diagnostics_qos, input_stream_qos, output_qos
from depthmaster_ros.ros.tf_listener import SharedTransformBuffer, TransformListener

NODE_NAME = 'depthmaster_node'

_ROS_TYPES = {
    params_table.STRING: ParameterType.PARAMETER_STRING,
    params_table.INTEGER: ParameterType.PARAMETER_INTEGER,
    params_table.DOUBLE: ParameterType.PARAMETER_DOUBLE,
    params_table.BOOL: ParameterType.PARAMETER_BOOL,
    params_table.DOUBLE_ARRAY: ParameterType.PARAMETER_DOUBLE_ARRAY,
}
# Modes whose depth needs the camera intrinsics (fixed needs them only for the cloud and camera_info).
_MODES_NEEDING_CAMERA = ('lidar', 'ground_plane', 'fixed')
# Pipeline warnings that are faults of a frame (a failed fit, a CUDA OOM retry): (prefix, counter name).
_COUNTED_WARNINGS = (('alignment:', 'alignment'), ('CUDA out of memory', 'cuda_out_of_memory'))


@dataclass
class _QueuedFrame:
    frame: FrameInput
    header: object           # the source image's std_msgs/Header
    received_monotonic: float


def parameter_descriptor(spec):
    """The ROS ParameterDescriptor of one table entry (ranges, choices in the text, read-only)."""
    text = spec.description
    if spec.choices:
        text += ' One of: ' + ', '.join(spec.choices) + '.'
    if not spec.runtime:
        text += ' Read-only: restart the node to change it.'
    descriptor = ParameterDescriptor(name=spec.name, type=_ROS_TYPES[spec.type], description=text,
                                     read_only=not spec.runtime)
    if spec.range is not None and spec.type == params_table.INTEGER:
        descriptor.integer_range = [IntegerRange(from_value=int(spec.range[0]), to_value=int(spec.range[1]), step=0)]
    elif spec.range is not None and spec.type == params_table.DOUBLE:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(spec.range[0]),
                                                              to_value=float(spec.range[1]), step=0.0)]
    if spec.choices:
        descriptor.additional_constraints = 'one of: ' + ', '.join(spec.choices)
    return descriptor


class DepthMasterNode(Node):
    """Subscribes image (+camera_info, points, /tf), publishes depth, cloud, alignment, diagnostics.

    estimator: an already loaded estimator (tests, embedding); None loads the one the parameters name.
    """

    def __init__(self, estimator=None, node_name=NODE_NAME, **node_kwargs):
        super().__init__(node_name, **node_kwargs)
        self._declare_parameters()
        self._params = {spec.name: params_table.validate(spec.name, self.get_parameter(spec.name).value)
                        for spec in params_table.PARAMETERS}
        params_table.validate_all(self._params)
        self.faults = FaultCounters(throttle_s=self._params['log_throttle_s'])
        self.mailbox = LatestFrameMailbox()
        self.transforms = SharedTransformBuffer()
        self.clouds = RecentClouds()
        self._config_lock = threading.Lock()
        self._pending_config = None

        device, dtype = resolve_runtime(self._params['device'], self._params['dtype'])
        if estimator is None:
            self.get_logger().info(f'loading {self._params["backend"]} model {self._params["model"]!r} '
                                   f'on {device} ({dtype})')
            estimator = load_estimator_from_params(self._params)
        self.health = NodeHealth({'backend': self._params['backend'], 'model': self._params['model'],
                                  'device': device, 'dtype': dtype})
        self.pipeline = DepthPipeline(estimator, PipelineConfig.from_params(self._params), log=self._pipeline_log)

        self._camera = None                 # CameraModel from the newest valid camera_info
        self._first_image_monotonic = None
        self._last_image_stamp_ns = None
        self._last_image_size = None
        self._throttle_log = {}

        self._create_publishers()
        self._create_subscriptions()
        self.tf_listener = TransformListener(self, self.transforms, on_error=lambda m: self._fault('tf', m))
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self._diagnostics_timer = self.create_timer(self._params['diagnostics_period_s'], self._publish_diagnostics)

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name='depthmaster_worker', daemon=True)
        self._worker.start()
        self.get_logger().info(f'ready: {self._params["image_transport"]} images, alignment '
                               f'{self._params["alignment_mode"]}, processing_res {self._params["processing_res"]}')

    # parameters --------------------------------------------------------------------------------
    def _declare_parameters(self):
        # rclpy's own dict of --params-file / -p / parameter_overrides values; rclpy has no public accessor
        overrides = self._parameter_overrides
        for spec in params_table.PARAMETERS:
            override = overrides.get(spec.name)
            if spec.type == params_table.DOUBLE and override is not None \
                    and override.type_ == Parameter.Type.INTEGER:
                # YAML `max_depth: 80` is an integer to rclpy; accept it as the double it means.
                overrides[spec.name] = Parameter(spec.name, Parameter.Type.DOUBLE, float(override.value))
            if spec.type == params_table.DOUBLE_ARRAY and override is not None \
                    and override.type_ == Parameter.Type.NOT_SET:
                del overrides[spec.name]          # an empty YAML list: keep the (empty) default
            if spec.type == params_table.DOUBLE_ARRAY:
                # rclpy infers no type from an empty list: declare the type, then set the empty default
                parameter = self.declare_parameter(spec.name, Parameter.Type.DOUBLE_ARRAY, parameter_descriptor(spec))
                if parameter.type_ == Parameter.Type.NOT_SET:
                    self.set_parameters([Parameter(spec.name, Parameter.Type.DOUBLE_ARRAY, list(spec.default))])
            else:
                self.declare_parameter(spec.name, spec.default, parameter_descriptor(spec))

    def _check_parameters(self, changes):
        """Reject unknown choices, out-of-range values and read-only changes, with the reason."""
        proposed = dict(self._params)
        for change in changes:
            spec = params_table.BY_NAME.get(change.name)
            if spec is None:
                continue                                   # use_sim_time and other rclpy-owned names
            if not spec.runtime and change.value != self._params[spec.name]:
                return SetParametersResult(successful=False,
                                           reason=f'{change.name} is read-only: restart the node to change it')
            try:
                proposed[spec.name] = params_table.validate(spec.name, change.value)
            except ValueError as error:
                return SetParametersResult(successful=False, reason=str(error))
        try:
            params_table.validate_all(proposed)
        except ValueError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, changes):
        """Accepted changes take effect from the next frame the worker takes."""
        for change in changes:
            if change.name in params_table.BY_NAME:
                self._params[change.name] = params_table.validate(change.name, change.value)
        self.faults.throttle_s = self._params['log_throttle_s']
        with self._config_lock:
            self._pending_config = PipelineConfig.from_params(self._params)
        if self._params['alignment_mode'] == 'lidar':
            self._ensure_points_subscription()

    def current_params(self):
        return dict(self._params)

    # topics --------------------------------------------------------------------------------------
    def _create_publishers(self):
        from depthmaster_interfaces.msg import DepthAlignment
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        qos = output_qos(self._params['output_reliability'])
        types = {'depth': Image, 'depth_mm': Image, 'camera_info': CameraInfo, 'relative': Image,
                 'confidence': Image, 'points': PointCloud2, 'alignment': DepthAlignment}
        self.output_pubs = {name: self.create_publisher(types[name], topic, qos)
                            for name, topic in OUTPUT_TOPICS.items()}
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', diagnostics_qos())

    def _create_subscriptions(self):
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        self._input_qos = input_stream_qos(self._params['input_qos_depth'], self._params['input_reliability'])
        if self._params['image_transport'] == 'compressed':
            self.image_sub = self.create_subscription(CompressedImage, 'image/compressed',
                                                      self._on_compressed_image, self._input_qos)
        else:
            self.image_sub = self.create_subscription(Image, 'image', self._on_image, self._input_qos)
        self.camera_info_sub = self.create_subscription(CameraInfo, 'camera_info', self._on_camera_info,
                                                        self._input_qos)
        self.points_sub = None
        if self._params['alignment_mode'] == 'lidar':
            self._ensure_points_subscription()

    def _ensure_points_subscription(self):
        from sensor_msgs.msg import PointCloud2
        if self.points_sub is None:
            self.points_sub = self.create_subscription(PointCloud2, 'points', self._on_points, self._input_qos)

    # logging and faults ------------------------------------------------------------------------
    def _fault(self, kind, message):
        if self.faults.record(kind, message):
            self.get_logger().warning(f'{kind}: {message} (repeats are counted on /diagnostics, '
                                      f'logged at most every {self._params["log_throttle_s"]:g} s)')

    def _throttled(self, key, level, message):
        now = time.monotonic()
        last = self._throttle_log.get(key)
        if last is None or now - last >= self._params['log_throttle_s']:
            self._throttle_log[key] = now
            getattr(self.get_logger(), level)(message)

    def _pipeline_log(self, level, message):
        self._throttled('pipeline:' + message.split(' ')[0], 'warning' if level == 'warn' else level, message)

    # input callbacks: convert and hand off, never wait on the model -------------------------------
    def _on_camera_info(self, msg):
        from depthmaster_ros.camera_model import CameraModel
        try:
            camera = CameraModel.from_camera_info(msg)
        except ValueError as error:
            self._fault('camera_info', str(error))
            return
        self._camera = camera

    def _on_points(self, msg):
        try:
            xyz = read_xyz(msg, skip_nans=True)      # organised clouds mark missing returns with NaN
        except ValueError as error:
            self._fault('points', str(error))
            return
        if len(xyz) == 0:
            self._fault('points_empty', f'point cloud in {msg.header.frame_id!r} has no finite points')
            return
        if not msg.header.frame_id:
            self._fault('points_frame_id', 'point cloud has an empty frame_id; it cannot be transformed')
            return
        self.clouds.add(StampedCloud(xyz, msg.header.frame_id,
                                     messages.stamp_to_ns(msg.header.stamp)))

    def _on_image(self, msg):
        from depthmaster_ros.image_conversion import check_image_size, image_to_rgb8

        def convert(image):
            check_image_size(image.width, image.height, self._params['max_pixels'])   # before decoding
            return image_to_rgb8(image)
        self._convert_and_queue(msg, convert)

    def _on_compressed_image(self, msg):
        from depthmaster_ros.compressed_image import compressed_to_rgb8
        self._convert_and_queue(msg, lambda image: compressed_to_rgb8(image, self._params['max_pixels']))

    def _convert_and_queue(self, msg, convert):
        received = time.monotonic()
        self.health.frame_received()
        try:
            rgb = convert(msg)
        except ValueError as error:
            self._fault('image', f'{error}; frame dropped')
            return
        header = msg.header
        stamp_ns = messages.stamp_to_ns(header.stamp)
        self._check_header(header, stamp_ns, rgb.shape)
        camera, proceed = self._camera_for(rgb.shape, received)
        if not proceed:
            return
        cloud, miss_reason = None, ''
        if self._params['alignment_mode'] == 'lidar':
            stamped, miss_reason = self.clouds.select(stamp_ns, self._params['max_cloud_age_s'],
                                                      self._params['cloud_future_tolerance_s'])
            if stamped is None:
                self._fault('points_missing', miss_reason)
            else:
                cloud = CloudInput(stamped.points, stamped.frame_id, stamped.stamp_ns)
        frame = FrameInput(rgb=rgb, stamp_ns=stamp_ns, frame_id=header.frame_id, camera=camera, cloud=cloud,
                           transforms=self.transforms if self._params['use_tf'] else None,
                           cloud_miss_reason=miss_reason)
        self.mailbox.put(_QueuedFrame(frame, header, received))

    def _check_header(self, header, stamp_ns, shape):
        if not header.frame_id:
            self._fault('image_frame_id', "image has an empty frame_id; outputs are published with '' too "
                                          'and LiDAR/ground-plane transforms cannot be looked up')
        if stamp_ns == 0:
            self._fault('image_stamp_zero', 'image stamp is zero; processing it anyway')
        elif self._last_image_stamp_ns is not None and stamp_ns <= self._last_image_stamp_ns:
            self._fault('image_stamp_order', f'image stamp did not increase ({stamp_ns} after '
                                             f'{self._last_image_stamp_ns} ns); processing it anyway')
        self._last_image_stamp_ns = stamp_ns
        size = (shape[1], shape[0])
        if self._last_image_size is not None and size != self._last_image_size:
            self._fault('image_size_change', f'image size changed from {self._last_image_size[0]}x'
                                             f'{self._last_image_size[1]} to {size[0]}x{size[1]}')
        self._last_image_size = size

    def _camera_for(self, shape, received):
        """(camera model for this image size or None, whether to process the frame now)."""
        height, width = shape[:2]
        camera = self._camera
        if self._first_image_monotonic is None:
            self._first_image_monotonic = received
        if camera is None:
            if self._params['alignment_mode'] not in _MODES_NEEDING_CAMERA:
                return None, True
            waited = received - self._first_image_monotonic
            if waited < self._params['camera_info_timeout_s']:
                self.health.waiting_for = 'camera_info'
                self._fault('camera_info_wait', f'no camera_info yet; waiting up to '
                                                f'{self._params["camera_info_timeout_s"]:g} s, frame dropped')
                return None, False
            self.health.waiting_for = ''
            self._fault('camera_info_missing', f'no valid camera_info after {waited:.1f} s: publishing '
                                               'relative depth only (no metric depth, no cloud)')
            return None, True
        self.health.waiting_for = ''
        if (camera.width, camera.height) == (width, height):
            return camera, True
        try:
            return camera.scaled(width, height), True
        except ValueError as error:
            self._fault('camera_info_size', f'camera_info is {camera.width}x{camera.height}, image is '
                                            f'{width}x{height}: {error}; publishing relative depth only')
            return None, True

    # worker ----------------------------------------------------------------------------------------
    def _work(self):
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

    def _process_and_publish(self, item):
        try:
            output = self.pipeline.process(item.frame)
        except ValueError as error:
            self._fault('frame', f'{error}; frame dropped')
            return
        except Exception as error:  # noqa: BLE001 - one bad frame must not stop the node
            if self.faults.record('pipeline_error', f'{type(error).__name__}: {error}'):
                self.get_logger().error(f'pipeline failed on a frame: {type(error).__name__}: {error}')
            return
        for warning in output.warnings:
            for prefix, kind in _COUNTED_WARNINGS:
                if warning.startswith(prefix):
                    self.faults.record(kind, warning)       # counted for /diagnostics; logged just below
            self._throttled('warning:' + warning.split(':')[0], 'warning', warning)
        if self._stop.is_set():
            return
        try:
            self._publish(item, output)
        except Exception as error:  # noqa: BLE001 - a message that fails to build must not stop the worker
            if self.faults.record('publish_error', f'{type(error).__name__}: {error}'):
                self.get_logger().error(f'publishing a frame failed: {type(error).__name__}: {error}')
            return
        latency = (self.get_clock().now().nanoseconds - item.frame.stamp_ns) * 1e-9
        timings = dict(output.timings)
        timings['receipt_to_publish'] = time.monotonic() - item.received_monotonic
        self.health.frame_published(latency, timings)
        self.health.last_record = output.record

    def _publish(self, item, output):
        produced = frame_messages(output, item.header, self._params, messages)
        if produced.cloud_withheld:
            self.health.output_skipped('cloud')
            self._throttled('cloud_max_points', 'warning',
                            f'cloud of {produced.cloud_withheld} points is above cloud_max_points '
                            f'{self._params["cloud_max_points"]}; not published (raise cloud_stride)')
        for name, message in produced.messages:
            self.output_pubs[name].publish(message)

    def _publish_diagnostics(self):
        counters = self.mailbox.counters()
        snapshot = self.health.snapshot(counters, self.faults.counts(), self.faults.last_messages(),
                                        self.faults.recent(FAULT_WARN_S))
        self.diagnostics_pub.publish(health_to_diagnostics(snapshot, self.get_name(), self.get_clock().now().to_msg()))

    # shutdown --------------------------------------------------------------------------------------
    def stop_worker(self, timeout_s=2.0):
        """Stop taking frames and join the worker (a frame in the model finishes first)."""
        if not hasattr(self, '_worker'):
            return True                     # construction failed before the worker started
        self._stop.set()
        self.mailbox.close()
        self._worker.join(timeout_s)
        return not self._worker.is_alive()

    def destroy_node(self):
        self.stop_worker()
        return super().destroy_node()


def main(argv=None, exit_process=None):
    """`ros2 run depthmaster_ros depthmaster_node [--ros-args ...]`; returns the process exit code.

    exit_process (default: when argv is None, i.e. run as the program): once the node, its worker and
    rclpy are shut down, end the process at once. Python's own teardown of torch and diffusers
    modules takes 1-3 s more and would break the 2 s shutdown a robot's launch system expects.
    """
    exit_process = argv is None if exit_process is None else exit_process
    code = _run(sys.argv if argv is None else argv)
    if exit_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(args):
    from depthmaster_ros.model.errors import ModelLoadError
    context = rclpy.Context()
    rclpy.init(args=args, context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    try:
        try:
            node = DepthMasterNode(context=context)
        except ModelLoadError as error:
            print(f'depthmaster_node: cannot load the model: {error}', file=sys.stderr)
            return 1
        except (ValueError, rclpy.exceptions.InvalidParameterValueException,
                rclpy.exceptions.InvalidParameterTypeException) as error:
            print(f'depthmaster_node: bad parameter: {error}', file=sys.stderr)
            return 2
        executor.add_node(node)
        spin = threading.Thread(target=_spin, args=(executor, stop), name='depthmaster_executor', daemon=True)
        spin.start()
        while not stop.wait(0.1):
            if not spin.is_alive():
                break
        node.get_logger().info('shutting down')
        node.stop_worker(timeout_s=1.5)
        return 0
    finally:
        executor.shutdown(timeout_sec=0.5)
        if node is not None:
            node.destroy_node()
        if context.ok():
            rclpy.shutdown(context=context)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _spin(executor, stop):
    try:
        while not stop.is_set() and executor.context.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    finally:
        stop.set()


if __name__ == '__main__':
    sys.exit(main())
