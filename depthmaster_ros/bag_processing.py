"""Offline rosbag2 -> rosbag2 with the node's own frame pipeline.

Messages are replayed in log-time order: TF and CameraInfo update the state, clouds go into a short
history, and each selected image runs through `DepthPipeline.process` exactly as the node would run
it (same config, same cloud pairing rule). Unlike the node nothing is dropped for being late: an
image waits a short look-ahead so that a cloud stamped just after it (LiDAR latency) is still seen.
Every output message carries its source image's header stamp and log time.
"""
from collections import deque
from dataclasses import dataclass, field
import math
from pathlib import Path
import time

import numpy as np

from depthmaster_ros import bag_topics
from depthmaster_ros.bag_writing import OutputLocation, open_writer, output_storage, qos_profile, tf_static_qos
from depthmaster_ros.cloud_pairing import StampedCloud, describe_miss, select_cloud
from depthmaster_ros.depth_metrics import depth_errors, mean_errors
from depthmaster_ros.fault_counters import FaultCounters
from depthmaster_ros.message_values import stamp_to_ns
from depthmaster_ros.pipeline import CloudInput, DepthPipeline, FrameInput, PipelineConfig

# How long, in log time, an image waits for late clouds and transforms beyond the pairing tolerance.
LIDAR_LATENCY_ALLOWANCE_S = 0.5
# How far before --start transforms and clouds are read, beyond max_cloud_age_s.
PRELOAD_S = 1.0

# Output topic roles, relative to the output namespace.
OUTPUT_TOPICS = {
    'depth': 'depth/image',
    'depth_mm': 'depth/image_mm',
    'camera_info': 'depth/camera_info',
    'relative': 'depth/relative',
    'confidence': 'depth/confidence',
    'alignment': 'depth/alignment',
    'points': 'points',
}


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


@dataclass
class _Pending:
    log_ns: int
    msgtype: str
    message: object


@dataclass
class _Stats:
    frames_read: int = 0          # image messages inside the time window
    frames_selected: int = 0      # after --every
    frames_out: int = 0
    skipped: FaultCounters = field(default_factory=lambda: FaultCounters(throttle_s=math.inf))
    faults: FaultCounters = field(default_factory=lambda: FaultCounters(throttle_s=math.inf))
    records: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    gt_errors: list = field(default_factory=list)
    warnings: FaultCounters = field(default_factory=lambda: FaultCounters(throttle_s=math.inf))


# ---------------------------------------------------------------------------------------------
# the writer side

class _OutputBag:
    def __init__(self, writer, typestore, namespace, output_reliable):
        self.writer = writer
        self.typestore = typestore
        self.namespace = namespace.rstrip('/')
        self._qos = [qos_profile(reliable=output_reliable)]
        self._connections = {}

    def topic(self, role):
        return f'{self.namespace}/{OUTPUT_TOPICS[role]}'

    def _connection(self, topic, msgtype):
        key = (topic, msgtype)
        if key not in self._connections:
            self._connections[key] = self.writer.add_connection(
                topic, msgtype, typestore=self.typestore, offered_qos_profiles=self._qos)
        return self._connections[key]

    def write(self, role, message, log_ns):
        msgtype = message.__msgtype__
        data = self.typestore.serialize_cdr(message, msgtype)
        self.writer.write(self._connection(self.topic(role), msgtype), log_ns, data)

    def copier(self, input_connection, typestore):
        """A connection in the output bag for a copied input topic, with its original type and QoS."""
        qos = list(input_connection.ext.offered_qos_profiles)
        if input_connection.topic == '/tf_static':
            qos = tf_static_qos(qos)
        key = ('copy', input_connection.topic, input_connection.msgtype)
        if key not in self._connections:
            # the recorded definition and hash when the bag has both, else the input typestore's
            definition = input_connection.msgdef.data or None
            digest = input_connection.digest or None
            if definition is None or digest is None:
                definition = digest = None
            self._connections[key] = self.writer.add_connection(
                input_connection.topic, input_connection.msgtype, typestore=typestore,
                msgdef=definition, rihs01=digest, offered_qos_profiles=qos)
        return self._connections[key]


def _header_ns(message):
    return stamp_to_ns(message.header.stamp)


def _depth_mm(depth_m):
    """REP 118 16UC1: millimetres, 0 where invalid or beyond the type's range."""
    with np.errstate(invalid='ignore'):
        millimetres = np.round(np.nan_to_num(depth_m, nan=0.0) * 1000.0)
        millimetres[(millimetres < 0) | (millimetres > 65535)] = 0
    return millimetres.astype(np.uint16)


def _write_outputs(out, output, header, log_ns, params):
    from depthmaster_ros import rosbag_messages as rm
    from depthmaster_ros.point_cloud import xyz_cloud_fields

    if output.depth_m is not None:
        out.write('depth', rm.image_msg(output.depth_m.astype(np.float32, copy=False), '32FC1', header), log_ns)
        if params['publish_depth_mm']:
            out.write('depth_mm', rm.image_msg(_depth_mm(output.depth_m), '16UC1', header), log_ns)
    if output.camera is not None:
        out.write('camera_info', rm.camera_info_msg(output.camera.to_camera_info_fields(), header), log_ns)
    if params['publish_relative']:
        out.write('relative', rm.image_msg(output.relative.astype(np.float32, copy=False), '32FC1', header), log_ns)
    if output.confidence is not None:
        out.write('confidence', rm.image_msg(output.confidence.astype(np.float32, copy=False), '32FC1', header),
                  log_ns)
    if output.points is not None and len(output.points) and output.points.size // 3 <= params['cloud_max_points']:
        out.write('points', rm.cloud_msg(xyz_cloud_fields(output.points, output.colors), header), log_ns)
    out.write('alignment', rm.alignment_msg(output.record, header), log_ns)


# ---------------------------------------------------------------------------------------------
# the reader side

def _add_tf_message(buffer, message, static, faults):
    from depthmaster_ros.transforms import RigidTransform
    for transform in message.transforms:
        t, q = transform.transform.translation, transform.transform.rotation
        try:
            buffer.set_transform(transform.header.frame_id, transform.child_frame_id,
                                 RigidTransform.from_translation_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w)),
                                 stamp_ns=_header_ns(transform), static=static)
        except ValueError as error:
            faults.record('tf', str(error))


def _to_rgb8(message, msgtype):
    if msgtype == bag_topics.COMPRESSED_IMAGE:
        from depthmaster_ros.compressed_image import compressed_to_rgb8
        return compressed_to_rgb8(message)
    from depthmaster_ros.image_conversion import image_to_rgb8
    return image_to_rgb8(message)


def _resized_to(array, shape):
    import cv2
    if array.shape == shape:
        return array
    return cv2.resize(array, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


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


# ---------------------------------------------------------------------------------------------
# the run

def process_bag(input_path, output_path, estimator, params, options=None, stop_requested=None):
    """Process IN into OUT; returns the summary dict (``summary['interrupted']`` after a stop request).

    ``estimator`` is a loaded estimator, or a function returning one: it is then called only once the
    bag, its topics and OUT are known to be usable, so those mistakes fail before a slow model load.
    ``params`` is a full parameter dict (``parameters.load_params_file`` or ``parameters.defaults()``
    with overrides); ``stop_requested()`` is polled between messages (Ctrl-C in the CLI).
    """
    from depthmaster_ros import rosbag_messages
    from depthmaster_ros.camera_model import CameraModel
    from depthmaster_ros.transforms import TransformBuffer

    options = options or BagOptions()
    stop_requested = stop_requested or (lambda: False)
    if options.every < 1:
        raise ValueError(f'--every: must be at least 1, got {options.every}')
    if options.start_s < 0:
        raise ValueError(f'--start: must not be negative, got {options.start_s}')
    if options.duration_s is not None and options.duration_s <= 0:
        raise ValueError(f'--duration: must be positive, got {options.duration_s}')
    storage = output_storage(output_path, options.storage)
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise ValueError(f'OUT: {output_path} is the input bag')
    config = PipelineConfig.from_params(params)

    started = time.perf_counter()
    base_typestore = rosbag_messages.typestore()
    with bag_topics.InputBag(input_path, base_typestore) as bag:
        entries = bag.entries()
        topics = bag_topics.select_topics(
            entries, bag.first_message, image_topic=options.image_topic,
            camera_info_topic=options.camera_info_topic, points_topic=options.points_topic,
            gt_topic=options.gt_topic, use_points=options.use_points and config.alignment_mode == 'lidar')
        namespace = options.namespace or bag_topics.image_namespace(topics.image, topics.image_type)
        location = OutputLocation(output_path, options.force)
        if not hasattr(estimator, 'predict'):
            estimator = estimator()
        pipeline = DepthPipeline(estimator, config)

        bag_start = bag.reader.start_time
        window_start = bag_start + int(round(options.start_s * 1e9))
        window_stop = (window_start + int(round(options.duration_s * 1e9))
                       if options.duration_s is not None else None)
        max_age_ns = int(round(params['max_cloud_age_s'] * 1e9))
        lookahead_ns = int(round((params['cloud_future_tolerance_s'] + LIDAR_LATENCY_ALLOWANCE_S) * 1e9))
        estimate = _estimated_frames(bag, topics.image, window_start, window_stop, options.every)
        sheet_positions = _sheet_positions(estimate, options.contact_sheet_rows) if options.contact_sheet else set()

        stats = _Stats()
        buffer = TransformBuffer(cache_s=max(10.0, 4 * PRELOAD_S))
        clouds = deque(maxlen=64)
        gt_by_stamp = {}
        pending = deque()
        sheet_rows = []
        state = {'camera_msg': None, 'camera': None}
        interrupted = False

        writer = open_writer(location, storage)
        out = _OutputBag(writer, base_typestore, namespace, params['output_reliability'] == 'reliable')
        output_topics = {role: out.topic(role) for role in OUTPUT_TOPICS}
        copied = set()
        input_roles = {topics.image, topics.camera_info, topics.points, topics.gt, *topics.tf} - {None}
        collisions = set(output_topics.values())
        for entry in entries:
            if entry.name in collisions and (options.copy_input or entry.name in topics.tf):
                stats.warnings.record('copy', f'{entry.name}: not copied, it is also an output topic')
            elif options.copy_input or entry.name in topics.tf:
                copied.add(entry.name)
        progress = _Progress(estimate, options.progress)

        def handle_image(item):
            index = stats.frames_selected
            stats.frames_selected += 1
            frame_started = time.perf_counter()
            try:
                rgb = _to_rgb8(item.message, item.msgtype)
            except ValueError as error:
                stats.skipped.record('image_conversion', str(error))
                progress.update()
                return
            stamp_ns = _header_ns(item.message)
            frame_id = str(item.message.header.frame_id)
            camera = _camera_for(state, rgb, stats.faults)
            cloud, miss = _cloud_for(clouds, stamp_ns, params) if topics.points else (None, '')
            frame = FrameInput(rgb=rgb, stamp_ns=stamp_ns, frame_id=frame_id, camera=camera,
                               cloud=cloud, transforms=buffer, cloud_miss_reason=miss)
            read_s = time.perf_counter() - frame_started
            try:
                output = pipeline.process(frame)
            except ValueError as error:
                stats.skipped.record('pipeline', str(error))
                progress.update()
                return
            t0 = time.perf_counter()
            header = rosbag_messages.header(stamp_ns, frame_id)
            _write_outputs(out, output, header, item.log_ns, params)
            write_s = time.perf_counter() - t0
            stats.frames_out += 1
            stats.records.append(output.record)
            for warning in output.warnings:
                stats.warnings.record(warning.split(':', 1)[0], warning)
            for stage, seconds in {'read': read_s, **output.timings, 'write': write_s}.items():
                stats.timings.setdefault(stage, []).append(seconds)
            gt = gt_by_stamp.pop(stamp_ns, None)
            if gt is not None and output.depth_m is not None:
                stats.gt_errors.append(depth_errors(_resized_to(output.depth_m, gt.shape), gt,
                                                    min_depth=params['min_depth'], max_depth=params['max_depth']))
            if index in sheet_positions:
                from depthmaster_ros.contact_sheet import SheetRow
                sheet_rows.append(SheetRow(rgb=rgb, depth_m=output.depth_m, gt_m=gt,
                                           label=f'#{index}  t={(item.log_ns - bag_start) * 1e-9:.2f} s'))
            progress.update()

        def drain(now_ns):
            while pending and (now_ns is None or pending[0].log_ns + lookahead_ns <= now_ns):
                if stop_requested():
                    return False
                handle_image(pending.popleft())
            return True

        try:
            _preload_latched(bag, topics, window_start, buffer, state, stats.faults)
            read_from = max(bag_start, window_start - max_age_ns - int(PRELOAD_S * 1e9))
            read_until = None if window_stop is None else window_stop + lookahead_ns
            wanted = [c for c in bag.reader.connections
                      if c.topic in input_roles or c.topic in copied]
            for connection, log_ns, rawdata in bag.reader.messages(connections=wanted, start=read_from,
                                                                    stop=read_until):
                if stop_requested() or not drain(log_ns):
                    interrupted = True
                    break
                in_window = log_ns >= window_start and (window_stop is None or log_ns < window_stop)
                if connection.topic in copied and (in_window or connection.topic == '/tf_static'):
                    writer.write(out.copier(connection, bag.typestore), log_ns, rawdata)
                if connection.topic not in input_roles:
                    continue
                if connection.topic == topics.image:
                    if not in_window:
                        continue
                    stats.frames_read += 1
                    if (stats.frames_read - 1) % options.every:
                        continue
                try:
                    message = bag.deserialize(rawdata, connection.msgtype)
                except Exception as error:  # noqa: BLE001 - a corrupt message is counted, never fatal
                    kind = 'image_decode' if connection.topic == topics.image else f'decode {connection.topic}'
                    if connection.topic == topics.image:
                        stats.frames_selected += 1
                        stats.skipped.record(kind, f'{connection.topic}: cannot deserialise ({error})')
                        progress.update()
                    else:
                        stats.faults.record(kind, f'{connection.topic}: cannot deserialise ({error})')
                    continue
                if connection.topic == topics.image:
                    pending.append(_Pending(log_ns, connection.msgtype, message))
                elif connection.topic in topics.tf:
                    _add_tf_message(buffer, message, connection.topic == '/tf_static', stats.faults)
                elif connection.topic == topics.camera_info:
                    state['camera_msg'] = message
                elif connection.topic == topics.points:
                    _add_cloud(clouds, message, stats.faults)
                elif connection.topic == topics.gt:
                    _add_gt(gt_by_stamp, message, stats.faults)
            else:
                interrupted = not drain(None)
        except BaseException:
            progress.close()
            writer.close()
            location.discard()
            raise
        progress.close()
        writer.close()
        location.commit()

    summary = _summary(stats, input_path, output_path, storage, topics, output_topics, config, estimator,
                       options, interrupted, time.perf_counter() - started)
    if options.contact_sheet and sheet_rows:
        from depthmaster_ros.contact_sheet import write_contact_sheet
        write_contact_sheet(options.contact_sheet, sheet_rows, title=_sheet_title(options, config))
        summary['contact_sheet'] = str(options.contact_sheet)
    return summary


def _preload_latched(bag, topics, window_start, buffer, state, faults):
    """/tf_static from the whole bag and the last CameraInfo before the window: both are latched state."""
    latched = [c for c in bag.reader.connections if c.topic == '/tf_static' and '/tf_static' in topics.tf]
    for connection, _, rawdata in bag.reader.messages(connections=latched):
        try:
            _add_tf_message(buffer, bag.deserialize(rawdata, connection.msgtype), True, faults)
        except Exception as error:  # noqa: BLE001
            faults.record('decode /tf_static', str(error))
    if topics.camera_info and window_start > bag.reader.start_time:
        infos = bag.connections(topics.camera_info)
        last = None
        for _, _, rawdata in bag.reader.messages(connections=infos, stop=window_start):
            last = rawdata
        if last is not None:
            try:
                state['camera_msg'] = bag.deserialize(last, infos[0].msgtype)
            except Exception as error:  # noqa: BLE001
                faults.record(f'decode {topics.camera_info}', str(error))


def _camera_for(state, rgb, faults):
    """The CameraModel for this image size from the newest CameraInfo, or None (counted) when unusable."""
    from depthmaster_ros.camera_model import CameraModel
    message = state['camera_msg']
    if message is None:
        faults.record('camera_info', 'no CameraInfo before this image')
        return None
    if state.get('camera_source') is not message:
        state['camera_source'], state['camera'], state['camera_error'] = message, None, ''
        try:
            state['camera'] = CameraModel.from_camera_info(message)
        except ValueError as error:
            state['camera_error'] = str(error)
    camera = state['camera']
    if camera is None:
        faults.record('camera_info', state['camera_error'])
        return None
    height, width = rgb.shape[:2]
    if (camera.width, camera.height) != (width, height):
        try:
            return camera.scaled(width, height)
        except ValueError as error:
            faults.record('camera_info', str(error))
            return None
    return camera


def _add_cloud(clouds, message, faults):
    from depthmaster_ros.point_cloud import read_xyz
    try:
        points = read_xyz(message)
    except ValueError as error:
        faults.record('point_cloud', str(error))
        return
    clouds.append(StampedCloud(points=points, frame_id=str(message.header.frame_id), stamp_ns=_header_ns(message)))


def _cloud_for(clouds, stamp_ns, params):
    cloud = select_cloud(clouds, stamp_ns, params['max_cloud_age_s'], params['cloud_future_tolerance_s'])
    if cloud is None:
        return None, describe_miss(list(clouds), stamp_ns)
    return CloudInput(points=cloud.points, frame_id=cloud.frame_id, stamp_ns=cloud.stamp_ns), ''


def _add_gt(gt_by_stamp, message, faults):
    from depthmaster_ros.image_conversion import image_to_numpy
    try:
        depth = np.asarray(image_to_numpy(message), dtype=np.float32)
    except ValueError as error:
        faults.record('gt_depth', str(error))
        return
    if str(message.encoding).upper() == '16UC1':
        depth = np.where(depth > 0, depth / 1000.0, np.nan).astype(np.float32)
    gt_by_stamp[_header_ns(message)] = depth
    while len(gt_by_stamp) > 64:       # unmatched ground truth: forget the oldest
        gt_by_stamp.pop(next(iter(gt_by_stamp)))


def _estimated_frames(bag, image_topic, window_start, window_stop, every):
    """Frames the window will select, from the topic's count and the bag's span (for progress and the sheet)."""
    count = sum(c.msgcount for c in bag.connections(image_topic))
    start, end = bag.reader.start_time, bag.reader.end_time
    span = max(1, end - start)
    covered = max(0, min(end, window_stop or end) - max(start, window_start))
    fraction = 1.0 if covered >= span or window_start <= start and window_stop is None else covered / span
    return max(1, int(math.ceil(count * fraction / every)))


def _sheet_positions(estimate, rows):
    if rows <= 0:
        return set()
    return {int(round(p)) for p in np.linspace(0, max(0, estimate - 1), min(rows, estimate))}


def _sheet_title(options, config):
    parts = [options.label] if options.label else []
    parts.append(f'{config.backend} {config.model}  processing_res {config.processing_res}  '
                 f'alignment {config.alignment_mode}')
    return '\n'.join(parts)


# ---------------------------------------------------------------------------------------------
# summary

def _stat(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None
    return {'mean': float(np.mean(values)), 'median': float(np.median(values))}


def _summary(stats, input_path, output_path, storage, topics, output_topics, config, estimator, options,
             interrupted, wall_s):
    records = stats.records
    ok = [r for r in records if r.ok]
    skipped = stats.skipped.counts()
    messages = stats.skipped.last_messages()
    return {
        'label': options.label,
        'input': str(input_path),
        'output': str(output_path),
        'storage': storage,
        'interrupted': interrupted,
        'model': {'backend': config.backend, 'model': config.model,
                  'device': str(getattr(estimator, 'device', '')), 'dtype': str(getattr(estimator, 'dtype', '')),
                  'processing_res': config.processing_res, 'alignment_mode': config.alignment_mode},
        'topics': {'image': topics.image, 'camera_info': topics.camera_info, 'points': topics.points,
                   'gt': topics.gt, 'tf': topics.tf},
        'output_topics': output_topics,
        'frames': {
            'in': stats.frames_read,
            'selected': stats.frames_selected,
            'out': stats.frames_out,
            'skipped': sum(skipped.values()),
            'skip_reasons': {kind: {'count': n, 'last_message': messages[kind]} for kind, n in skipped.items()},
        },
        'faults': {kind: {'count': n, 'last_message': stats.faults.last_messages()[kind]}
                   for kind, n in stats.faults.counts().items()},
        'warnings': stats.warnings.counts(),
        'alignment': {
            'ok_ratio': (len(ok) / len(records)) if records else None,
            'held_ratio': (sum(r.held for r in records) / len(records)) if records else None,
            'scale': _stat([r.scale for r in ok]),
            'shift': _stat([r.shift for r in ok]),
            'num_inliers': _stat([r.num_inliers for r in ok]),
            'rmse_m': _stat([r.rmse_m for r in ok]),
        },
        'timing_ms': {stage: {k: v * 1000.0 for k, v in _stat(values).items()}
                      for stage, values in stats.timings.items() if _stat(values)},
        'ground_truth': mean_errors(stats.gt_errors),
        'wall_time_s': wall_s,
        'frames_per_s': stats.frames_out / wall_s if wall_s > 0 else None,
    }


def format_summary(summary):
    """Human-readable lines of a summary dict."""
    frames = summary['frames']
    lines = []
    if summary.get('label'):
        lines.append(f'*** {summary["label"]} ***')
    lines.append(f'{summary["input"]} -> {summary["output"]} ({summary["storage"]})'
                 + ('  [INTERRUPTED: partial output]' if summary['interrupted'] else ''))
    model = summary['model']
    lines.append(f'model: {model["backend"]} {model["model"]} on {model["device"]} {model["dtype"]}, '
                 f'processing_res {model["processing_res"]}, alignment {model["alignment_mode"]}')
    lines.append(f'frames: {frames["in"]} in window, {frames["selected"]} selected, {frames["out"]} written, '
                 f'{frames["skipped"]} skipped')
    for kind, info in frames['skip_reasons'].items():
        lines.append(f'  skipped {info["count"]} x {kind}: {info["last_message"]}')
    for kind, info in summary['faults'].items():
        lines.append(f'  fault {info["count"]} x {kind}: {info["last_message"]}')
    alignment = summary['alignment']
    if alignment['ok_ratio'] is not None:
        line = f'alignment ok {alignment["ok_ratio"]:.0%}'
        for name in ('scale', 'shift', 'num_inliers', 'rmse_m'):
            if alignment[name]:
                line += f', {name} {alignment[name]["mean"]:.4g} (median {alignment[name]["median"]:.4g})'
        lines.append(line)
    if summary['timing_ms']:
        lines.append('time per frame, ms (mean / median): ' + ', '.join(
            f'{stage} {t["mean"]:.1f}/{t["median"]:.1f}' for stage, t in summary['timing_ms'].items()
            if not stage.startswith('model.')))
    gt = summary['ground_truth']
    if gt:
        lines.append(f'vs ground truth ({gt["frames"]} frames): AbsRel {gt["abs_rel"]:.4f}, '
                     f'delta1 {gt["delta1"]:.4f}, RMSE {gt["rmse_m"]:.3f} m, coverage {gt["coverage"]:.1%}')
    if summary.get('frames_per_s'):
        lines.append(f'{summary["frames_per_s"]:.2f} frames/s over {summary["wall_time_s"]:.1f} s')
    return '\n'.join(lines)
