"""Offline rosbag2 -> rosbag2 with the node's own frame pipeline.

Messages are replayed in log-time order: TF and CameraInfo update the state, clouds go into a short
history, and each selected image runs through `DepthPipeline.process` exactly as the node runs it
(same config, same cloud pairing rule). Unlike the node nothing is dropped for being late: an image
waits a short look-ahead in log time, so a cloud stamped just after it (LiDAR latency) is still seen.
Every output message carries its source image's header, and is logged at the source image's log time.
"""
from collections import deque
import contextlib
from dataclasses import dataclass
import math
from pathlib import Path
import time

import numpy as np

from depthmaster_ros import bag_topics
from depthmaster_ros.bag_summary import BagStats, build_summary
from depthmaster_ros.bag_writing import OutputLocation, open_writer, output_storage, qos_profile, tf_static_qos
from depthmaster_ros.cloud_pairing import StampedCloud, describe_miss, select_cloud
from depthmaster_ros.depth_metrics import depth_errors
from depthmaster_ros.message_values import stamp_to_ns
from depthmaster_ros.frame_outputs import OUTPUT_TOPICS, frame_messages
from depthmaster_ros.pipeline import CloudInput, DepthPipeline, FrameInput, PipelineConfig

# How long, in log time, an image waits for late clouds and transforms beyond the pairing tolerance.
LIDAR_LATENCY_ALLOWANCE_S = 0.5
# How far before --start transforms and clouds are read, beyond max_cloud_age_s.
PRELOAD_S = 1.0
# Unmatched ground-truth images kept while waiting for their camera frame.
GT_BACKLOG = 64



@dataclass
class BagOptions:
    image_topic: str | None = None
    camera_info_topic: str | None = None
    points_topic: str | None = None
    use_points: bool = True
    gt_topic: str | None = None
    namespace: str | None = None       # output namespace; None: the image topic's namespace
    storage: str | None = None         # mcap | sqlite3; None: from OUT's suffix, else mcap
    copy_input: bool = False
    start_s: float = 0.0               # from the bag's first message
    duration_s: float | None = None
    every: int = 1
    force: bool = False
    contact_sheet: str | None = None   # PNG path
    contact_sheet_rows: int = 4
    label: str = ''                    # shown on the contact sheet and in the summary
    progress: bool = True

    def check(self):
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise ValueError(f'--every: must be an integer of at least 1, got {self.every!r}')
        if not self.start_s >= 0:
            raise ValueError(f'--start: must not be negative, got {self.start_s}')
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f'--duration: must be positive, got {self.duration_s}')
        if self.contact_sheet_rows < 0:
            raise ValueError(f'--contact-sheet-rows: must not be negative, got {self.contact_sheet_rows}')


def process_bag(input_path, output_path, estimator, params, options=None, stop_requested=None):
    """Process IN into OUT; returns the summary dict (``summary['interrupted']`` after a stop request).

    ``estimator`` is a loaded estimator, or a function returning one: it is then called only once the
    bag, its topics and OUT are known to be usable, so those mistakes fail before a slow model load.
    ``params`` is a full parameter dict (``parameters.load_params_file`` or ``parameters.defaults()``
    with overrides); ``stop_requested()`` is polled between messages (Ctrl-C in the CLI).
    """
    from depthmaster_ros import rosbag_messages

    options = options or BagOptions()
    options.check()
    storage = output_storage(output_path, options.storage)
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise ValueError(f'OUT: {output_path} is the input bag')
    config = PipelineConfig.from_params(params)
    started = time.perf_counter()
    with bag_topics.InputBag(input_path, rosbag_messages.typestore()) as bag:
        topics = bag_topics.select_topics(
            bag.entries(), bag.first_message, image_topic=options.image_topic,
            camera_info_topic=options.camera_info_topic, points_topic=options.points_topic,
            gt_topic=options.gt_topic, use_points=options.use_points and config.alignment_mode == 'lidar')
        location = OutputLocation(output_path, options.force)
        if not hasattr(estimator, 'predict'):
            estimator = estimator()
        run = _BagRun(bag, topics, DepthPipeline(estimator, config), params, options,
                      stop_requested or (lambda: False))
        writer = open_writer(location, storage)
        try:
            run.replay(_OutputBag(writer, rosbag_messages, _namespace(options, topics), params))
        except BaseException:          # an error or a second Ctrl-C: no half-written OUT is left behind
            run.progress.close()
            with contextlib.suppress(Exception):
                writer.close()
            location.discard()
            raise
        run.progress.close()
        writer.close()
        location.commit()

    summary = build_summary(
        run.stats, interrupted=run.interrupted, wall_s=time.perf_counter() - started,
        run={'label': options.label, 'input': str(input_path), 'output': str(output_path), 'storage': storage},
        model={'backend': config.backend, 'model': config.model, 'device': str(getattr(estimator, 'device', '')),
               'dtype': str(getattr(estimator, 'dtype', '')), 'processing_res': config.processing_res,
               'alignment_mode': config.alignment_mode},
        topics={'image': topics.image, 'camera_info': topics.camera_info, 'points': topics.points,
                'gt': topics.gt, 'tf': topics.tf},
        output_topics=run.output_topics)
    if options.contact_sheet and run.sheet_rows:
        from depthmaster_ros.contact_sheet import write_contact_sheet
        write_contact_sheet(options.contact_sheet, run.sheet_rows, title=_sheet_title(options, config))
        summary['contact_sheet'] = str(options.contact_sheet)
    return summary


def _namespace(options, topics):
    return options.namespace or bag_topics.image_namespace(topics.image, topics.image_type)


# ---------------------------------------------------------------------------------------------
# the writer side

class _OutputBag:
    """The output bag's connections, created on first use, with the QoS the node offers."""

    def __init__(self, writer, builders, namespace, params):
        self.writer = writer
        self.builders = builders          # depthmaster_ros.rosbag_messages
        self.typestore = builders.typestore()
        self.namespace = namespace.rstrip('/')
        self.params = params
        self._qos = [qos_profile(reliable=params['output_reliability'] == 'reliable')]
        self._connections = {}

    def topic(self, role):
        return f'{self.namespace}/{OUTPUT_TOPICS[role]}'

    def write(self, role, message, log_ns):
        key = (role, message.__msgtype__)
        if key not in self._connections:
            self._connections[key] = self.writer.add_connection(
                self.topic(role), message.__msgtype__, typestore=self.typestore, offered_qos_profiles=self._qos)
        self.writer.write(self._connections[key], log_ns, self.typestore.serialize_cdr(message, message.__msgtype__))

    def copy(self, connection, input_typestore, log_ns, rawdata):
        """Copy an input message as recorded: original type, definition, hash and QoS."""
        key = ('copy', connection.topic, connection.msgtype)
        if key not in self._connections:
            qos = list(connection.ext.offered_qos_profiles)
            if connection.topic == '/tf_static':
                qos = tf_static_qos(qos)
            definition, digest = connection.msgdef.data or None, connection.digest or None
            if definition is None or digest is None:      # then the input typestore supplies both
                definition = digest = None
            self._connections[key] = self.writer.add_connection(
                connection.topic, connection.msgtype, typestore=input_typestore, msgdef=definition,
                rihs01=digest, offered_qos_profiles=qos)
        self.writer.write(self._connections[key], log_ns, rawdata)

    def write_frame(self, output, header, log_ns):
        """Every output of one frame, by the node's rule; False if the cloud was too big to write."""
        produced = frame_messages(output, header, self.params, self.builders)
        for name, message in produced.messages:
            self.write(name, message, log_ns)
        return not produced.cloud_withheld


# ---------------------------------------------------------------------------------------------
# one run over the input

@dataclass
class _PendingImage:
    log_ns: int
    msgtype: str
    message: object


class _BagRun:
    """State of one replay: transforms, calibration, recent clouds, ground truth, images waiting."""

    def __init__(self, bag, topics, pipeline, params, options, stop_requested):
        from depthmaster_ros.transforms import TransformBuffer

        self.bag, self.topics, self.pipeline = bag, topics, pipeline
        self.params, self.options, self.stop_requested = params, options, stop_requested
        self.stats = BagStats()
        self.transforms = TransformBuffer(cache_s=max(10.0, 4 * PRELOAD_S))
        self.clouds = deque(maxlen=64)
        self.ground_truth = {}                    # stamp_ns -> depth in metres
        self.pending = deque()
        self.camera_info = None                   # newest CameraInfo message
        self._camera_cache = (None, None, '')     # (message, CameraModel or None, error)
        self.sheet_rows = []
        self.interrupted = False
        self.output_topics = {}

        reader = bag.reader
        self.bag_start = reader.start_time
        self.window_start = self.bag_start + int(round(options.start_s * 1e9))
        self.window_stop = (None if options.duration_s is None
                            else self.window_start + int(round(options.duration_s * 1e9)))
        self.lookahead_ns = int(round((params['cloud_future_tolerance_s'] + LIDAR_LATENCY_ALLOWANCE_S) * 1e9))
        estimate = _estimated_frames(bag, topics.image, self.window_start, self.window_stop, options.every)
        self.sheet_positions = _sheet_positions(estimate, options.contact_sheet_rows) if options.contact_sheet else set()
        self.input_topics = {topics.image, topics.camera_info, topics.points, topics.gt, *topics.tf} - {None}
        self.progress = _Progress(estimate, options.progress)

    # replay ------------------------------------------------------------------------------------
    def replay(self, out):
        self.out = out
        self.output_topics = {role: out.topic(role) for role in OUTPUT_TOPICS}
        copied = self._copied_topics()
        read_from = max(self.bag_start, self.window_start - int((self.params['max_cloud_age_s'] + PRELOAD_S) * 1e9))
        self._preload_latched_state(read_from, copy_tf_static='/tf_static' in copied)
        read_until = None if self.window_stop is None else self.window_stop + self.lookahead_ns
        wanted = [c for c in self.bag.reader.connections if c.topic in self.input_topics or c.topic in copied]
        for connection, log_ns, rawdata in self.bag.reader.messages(connections=wanted, start=read_from,
                                                                     stop=read_until):
            if not self._process_pending(until_ns=log_ns):
                self.interrupted = True
                return
            in_window = self._in_window(log_ns)
            if connection.topic in copied and (in_window or connection.topic == '/tf_static'):
                out.copy(connection, self.bag.typestore, log_ns, rawdata)
            if connection.topic == self.topics.image:
                if in_window:
                    self._image_arrived(connection, log_ns, rawdata)
            elif connection.topic in self.input_topics:
                self._state_arrived(connection, rawdata)
        self.interrupted = not self._process_pending(until_ns=None)

    def _in_window(self, log_ns):
        return log_ns >= self.window_start and (self.window_stop is None or log_ns < self.window_stop)

    def _copied_topics(self):
        """Topics copied as recorded: TF always (RViz needs it for our outputs), all with --copy-input."""
        outputs = set(self.output_topics.values())
        copied = set()
        for entry in self.bag.entries():
            if not (self.options.copy_input or entry.name in self.topics.tf):
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
            for connection, log_ns, rawdata in self.bag.reader.messages(connections=self.bag.connections('/tf_static')):
                self._state_arrived(connection, rawdata)
                if copy_tf_static and log_ns < read_from:
                    self.out.copy(connection, self.bag.typestore, log_ns, rawdata)
        if self.topics.camera_info and self.window_start > self.bag_start:
            last = None
            for last in self.bag.reader.messages(connections=self.bag.connections(self.topics.camera_info),
                                                 stop=self.window_start):
                pass
            if last is not None:
                self._state_arrived(last[0], last[2])

    def _decode(self, connection, rawdata):
        try:
            return self.bag.deserialize(rawdata, connection.msgtype)
        except Exception as error:  # noqa: BLE001 - rosbags raises several types; a corrupt message never stops the run
            return ValueError(f'{connection.topic}: cannot deserialise a {connection.msgtype} ({error})')

    def _state_arrived(self, connection, rawdata):
        message = self._decode(connection, rawdata)
        topic, faults = connection.topic, self.stats.faults
        if isinstance(message, ValueError):
            faults.record(f'decode {topic}', str(message))
        elif topic in self.topics.tf:
            _add_tf_message(self.transforms, message, topic == '/tf_static', faults)
        elif topic == self.topics.camera_info:
            self.camera_info = message
        elif topic == self.topics.points:
            _add_cloud(self.clouds, message, faults)
        elif topic == self.topics.gt:
            _add_ground_truth(self.ground_truth, message, faults)

    def _image_arrived(self, connection, log_ns, rawdata):
        self.stats.frames_in += 1
        if (self.stats.frames_in - 1) % self.options.every:
            return
        message = self._decode(connection, rawdata)
        if isinstance(message, ValueError):
            self._skip('image_decode', message)
            return
        self.pending.append(_PendingImage(log_ns, connection.msgtype, message))

    def _process_pending(self, until_ns):
        """Process waiting images whose look-ahead has passed (all when until_ns is None); False on stop."""
        if self.stop_requested():
            return False
        while self.pending and (until_ns is None or self.pending[0].log_ns + self.lookahead_ns <= until_ns):
            self._process_image(self.pending.popleft())
            if self.stop_requested():
                return False
        return True

    def _skip(self, reason, error):
        self.stats.frames_selected += 1
        self.stats.skipped.record(reason, str(error))
        self.progress.update()

    # one frame ---------------------------------------------------------------------------------
    def _process_image(self, item):
        started = time.perf_counter()
        try:
            rgb = _to_rgb8(item.message, item.msgtype, self.params['max_pixels'])
        except ValueError as error:
            self._skip('image_conversion', error)
            return
        stamp_ns = stamp_to_ns(item.message.header.stamp)
        frame_id = str(item.message.header.frame_id)
        cloud, miss = self._cloud_for(stamp_ns) if self.topics.points else (None, '')
        frame = FrameInput(rgb=rgb, stamp_ns=stamp_ns, frame_id=frame_id, camera=self._camera_for(rgb),
                           cloud=cloud, transforms=self.transforms, cloud_miss_reason=miss)
        convert_s = time.perf_counter() - started
        try:
            output = self.pipeline.process(frame)
        except ValueError as error:
            self._skip('pipeline', error)
            return
        except Exception as error:  # noqa: BLE001 - as in the node: one frame failing must not end the run
            self._skip('pipeline_error', f'{type(error).__name__}: {error}')
            return
        index = self.stats.frames_selected
        self.stats.frames_selected += 1
        started = time.perf_counter()
        if not self.out.write_frame(output, self.out.builders.header(stamp_ns, frame_id), item.log_ns):
            self.stats.faults.record('cloud_max_points', 'cloud above cloud_max_points not written; raise cloud_stride')
        write_s = time.perf_counter() - started
        gt = self.ground_truth.pop(stamp_ns, None)
        errors = None
        if gt is not None and output.depth_m is not None:
            errors = depth_errors(_resized_nearest(output.depth_m, gt.shape), gt,
                                  min_depth=self.params['min_depth'], max_depth=self.params['max_depth'])
        self.stats.frame_written(output, {'convert': convert_s, **output.timings, 'write': write_s}, errors)
        if index in self.sheet_positions:
            from depthmaster_ros.contact_sheet import SheetRow
            label = f'#{index}  t={(item.log_ns - self.bag_start) * 1e-9:.2f} s'
            self.sheet_rows.append(SheetRow(rgb=rgb, depth_m=output.depth_m, gt_m=gt, label=label))
        self.progress.update()

    def _camera_for(self, rgb):
        """The CameraModel for this image's size from the newest CameraInfo; None (counted) when unusable."""
        from depthmaster_ros.camera_model import CameraModel
        faults = self.stats.faults
        if self.camera_info is None:
            faults.record('camera_info', 'no CameraInfo before this image')
            return None
        if self._camera_cache[0] is not self.camera_info:
            try:
                self._camera_cache = (self.camera_info, CameraModel.from_camera_info(self.camera_info), '')
            except ValueError as error:
                self._camera_cache = (self.camera_info, None, str(error))
        _, camera, error = self._camera_cache
        if camera is None:
            faults.record('camera_info', error)
            return None
        height, width = rgb.shape[:2]
        if (camera.width, camera.height) == (width, height):
            return camera
        try:
            return camera.scaled(width, height)
        except ValueError as scale_error:
            faults.record('camera_info', str(scale_error))
            return None

    def _cloud_for(self, stamp_ns):
        cloud = select_cloud(self.clouds, stamp_ns, self.params['max_cloud_age_s'],
                             self.params['cloud_future_tolerance_s'])
        if cloud is None:
            return None, describe_miss(list(self.clouds), stamp_ns)
        return CloudInput(points=cloud.points, frame_id=cloud.frame_id, stamp_ns=cloud.stamp_ns), ''


# ---------------------------------------------------------------------------------------------
# input messages into core types

def _add_tf_message(buffer, message, static, faults):
    from depthmaster_ros.transforms import store_tf_message
    for error in store_tf_message(buffer, message, static)[1]:
        faults.record('tf', error)


def _to_rgb8(message, msgtype, max_pixels):
    """RGB for the model; oversize images are refused before their pixels are decoded, as in the node."""
    if msgtype == bag_topics.COMPRESSED_IMAGE:
        from depthmaster_ros.compressed_image import compressed_to_rgb8
        return compressed_to_rgb8(message, max_pixels)
    from depthmaster_ros.image_conversion import check_image_size, image_to_rgb8
    check_image_size(message.width, message.height, max_pixels)
    return image_to_rgb8(message)


def _add_cloud(clouds, message, faults):
    from depthmaster_ros.point_cloud import read_xyz
    try:
        points = read_xyz(message)
    except ValueError as error:
        faults.record('point_cloud', str(error))
        return
    clouds.append(StampedCloud(points=points, frame_id=str(message.header.frame_id),
                               stamp_ns=stamp_to_ns(message.header.stamp)))


def _add_ground_truth(ground_truth, message, faults):
    """GT depth in metres by stamp: 32FC1 metres or 16UC1 millimetres (0 = invalid), REP 118."""
    from depthmaster_ros.image_conversion import image_to_numpy
    try:
        depth = np.asarray(image_to_numpy(message), dtype=np.float32)
    except ValueError as error:
        faults.record('ground_truth', str(error))
        return
    if depth.ndim != 2:
        faults.record('ground_truth', f'{message.encoding}: ground truth must be a single-channel depth image')
        return
    if str(message.encoding).upper() == '16UC1':
        depth = np.where(depth > 0, depth / 1000.0, np.nan).astype(np.float32)
    ground_truth[stamp_to_ns(message.header.stamp)] = depth
    while len(ground_truth) > GT_BACKLOG:          # ground truth no frame claimed: forget the oldest
        ground_truth.pop(next(iter(ground_truth)))


def _resized_nearest(array, shape):
    import cv2
    if array.shape == shape:
        return array
    return cv2.resize(array, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


# ---------------------------------------------------------------------------------------------
# progress and contact sheet

class _Progress:
    def __init__(self, total, enabled):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit='frame', dynamic_ncols=True, smoothing=0.1)

    def update(self):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _estimated_frames(bag, image_topic, window_start, window_stop, every):
    """Frames the window will select, from the topic's count and the bag's span (for progress and the sheet)."""
    count = sum(c.msgcount for c in bag.connections(image_topic))
    start, end = bag.reader.start_time, bag.reader.end_time
    covered = min(end, window_stop or end) - max(start, window_start)
    fraction = 1.0 if window_start <= start and window_stop is None else max(0, covered) / max(1, end - start)
    return max(1, int(math.ceil(count * min(1.0, fraction) / every)))


def _sheet_positions(estimate, rows):
    if rows <= 0:
        return set()
    return {int(round(p)) for p in np.linspace(0, max(0, estimate - 1), min(rows, estimate))}


def _sheet_title(options, config):
    lines = [options.label] if options.label else []
    lines.append(f'{config.backend} {config.model}  processing_res {config.processing_res}  '
                 f'alignment {config.alignment_mode}')
    return '\n'.join(lines)
