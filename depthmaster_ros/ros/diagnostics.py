"""What the node reports on /diagnostics: rates, latency, drops, alignment health and input faults.

`NodeHealth` gathers events from the callbacks and the worker (thread-safe, ROS-free);
`health_to_diagnostics` turns one snapshot into a DiagnosticArray with OK/WARN/ERROR and reasons.
"""
from collections import deque
from dataclasses import dataclass, field
import math
import threading
import time

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.model import RANDOM_WEIGHTS_BANNER, describe_weights, weights_line
from depthmaster_ros.pipeline import STAMP_ORDER, STAMP_ZERO

from .transport_stats import transport_status

OK, WARN, ERROR = 0, 1, 2
_WINDOW_S = 5.0
# Input faults keep the status at WARN this long after the last one, then it returns to OK.
FAULT_WARN_S = 10.0


class _EventWindow:
    """Times (and optional values) of recent events, for rates and means over a sliding window."""

    def __init__(self, window_s=_WINDOW_S):
        self.window_s = window_s
        self._events = deque()

    def add(self, now, value=0.0):
        self._events.append((now, value))
        self._trim(now)

    def _trim(self, now):
        while self._events and now - self._events[0][0] > self.window_s:
            self._events.popleft()

    def rate_hz(self, now):
        self._trim(now)
        if len(self._events) < 2:
            return 0.0 if not self._events else 1.0 / self.window_s
        span = now - self._events[0][0]
        return len(self._events) / max(span, 1e-6) if span > 0 else 0.0

    def mean(self, now):
        self._trim(now)
        return sum(v for _, v in self._events) / len(self._events) if self._events else float('nan')

    def maximum(self, now):
        self._trim(now)
        return max((v for _, v in self._events), default=float('nan'))


@dataclass
class HealthSnapshot:
    input_rate_hz: float
    output_rate_hz: float
    latency_mean_s: float
    latency_max_s: float
    stage_means_s: dict
    mailbox: dict
    faults: dict
    fault_messages: dict
    last_record: object
    waiting_for: str
    worker_error: str
    model: dict
    outputs_skipped: dict = field(default_factory=dict)
    recent_faults: set = field(default_factory=set)   # kinds seen within FAULT_WARN_S
    seconds_since_output: float = float('inf')
    idle: str = ''                                    # why no inference runs (lazy), '' when it does
    transport: dict = field(default_factory=dict)     # input -> transport_stats.InputLoss


class NodeHealth:
    """Thread-safe event sink shared by the callbacks (inputs) and the worker (outputs)."""

    def __init__(self, model_info, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._inputs = _EventWindow()
        self._outputs = _EventWindow()
        self._stages = {}
        self._last_output = None
        self.last_record = None
        self.waiting_for = ''
        self.idle = ''
        self.worker_error = ''
        self.model_info = dict(model_info)
        self.outputs_skipped = {}

    def frame_received(self):
        with self._lock:
            self._inputs.add(self._clock())

    def frame_published(self, latency_s, timings):
        now = self._clock()
        with self._lock:
            self._outputs.add(now, latency_s)
            self._last_output = now
            for stage, seconds in timings.items():
                self._stages.setdefault(stage, _EventWindow()).add(now, seconds)

    def output_skipped(self, name):
        with self._lock:
            self.outputs_skipped[name] = self.outputs_skipped.get(name, 0) + 1

    def snapshot(self, mailbox_counters, faults, fault_messages, recent_faults=None, transport=None):
        now = self._clock()
        with self._lock:
            return HealthSnapshot(
                input_rate_hz=self._inputs.rate_hz(now),
                output_rate_hz=self._outputs.rate_hz(now),
                latency_mean_s=self._outputs.mean(now),
                latency_max_s=self._outputs.maximum(now),
                stage_means_s={stage: window.mean(now) for stage, window in sorted(self._stages.items())},
                mailbox=dict(mailbox_counters),
                faults=dict(faults),
                fault_messages=dict(fault_messages),
                recent_faults=set(faults if recent_faults is None else recent_faults),
                last_record=self.last_record,
                waiting_for=self.waiting_for,
                idle=self.idle,
                transport=dict(transport or {}),
                worker_error=self.worker_error,
                model=dict(self.model_info),
                outputs_skipped=dict(self.outputs_skipped),
                seconds_since_output=(now - self._last_output) if self._last_output is not None else float('inf'),
            )


def _fmt(value):
    if isinstance(value, float):
        return f'{value:.4g}'
    return str(value)


def pipeline_status(snapshot):
    """(level, message, values) for the frame path."""
    values = [('input_rate_hz', snapshot.input_rate_hz), ('output_rate_hz', snapshot.output_rate_hz),
              ('latency_mean_s', snapshot.latency_mean_s), ('latency_max_s', snapshot.latency_max_s)]
    values += [(f'frames_{name}', count) for name, count in snapshot.mailbox.items()]
    values += [(f'stage_{stage}_s', seconds) for stage, seconds in snapshot.stage_means_s.items()]
    values += [(f'skipped_{name}', count) for name, count in snapshot.outputs_skipped.items()]
    # frames with a bad stamp, counted apart: latency comes from receipt times, so they cannot skew it
    values += [('frames_stamp_zero', snapshot.faults.get(STAMP_ZERO, 0)),
               ('frames_stamp_backward', snapshot.faults.get(STAMP_ORDER, 0))]
    if snapshot.worker_error:
        return ERROR, f'worker stopped: {snapshot.worker_error}', values
    if snapshot.idle:
        return OK, snapshot.idle, values
    if snapshot.waiting_for:
        return WARN, f'waiting for {snapshot.waiting_for}', values
    if snapshot.input_rate_hz == 0.0 and snapshot.mailbox.get('received', 0) == 0:
        return WARN, 'no images received yet', values
    if snapshot.input_rate_hz == 0.0:
        return WARN, 'no images in the last few seconds', values
    if snapshot.output_rate_hz == 0.0:
        return WARN, 'images arrive but no depth was published in the last few seconds', values
    return OK, f'publishing at {snapshot.output_rate_hz:.2f} Hz', values


def alignment_status(snapshot):
    record = snapshot.last_record
    if record is None:
        return WARN, 'no frame processed yet', []
    values = list(record.as_dict().items())
    if not get_mode(record.mode).metric:
        return OK, f'alignment_mode {record.mode}: relative depth only', values
    if not record.ok:
        return WARN, f'no metric depth: {record.reason}', values
    if record.held:
        return WARN, f'holding an earlier fit: {record.reason}', values
    offset = [f'{name} {value:+.1f} deg' for name, value in (('pitch', record.extrinsic_pitch_deg),
                                                             ('yaw', record.extrinsic_yaw_deg))
              if math.isfinite(value) and value != 0.0]
    if offset:
        return WARN, f'LiDAR-camera extrinsic or time offset looks off ({", ".join(offset)}); fit still ok', values
    check = record.height_check
    if check is not None:
        values.append(('camera_height_from_lidar_m', check.implied_height_m))
        if not check.agrees:
            return WARN, check.describe(), values
    return OK, f'{record.mode} fit with {record.num_inliers}/{record.num_points} samples', values


def inputs_status(snapshot):
    values = sorted(snapshot.faults.items())
    if not snapshot.faults:
        return OK, 'no input faults', values
    values += [(f'last_{kind}', message) for kind, message in sorted(snapshot.fault_messages.items())]
    total = sum(snapshot.faults.values())
    if not snapshot.recent_faults:
        return OK, f'no input faults in the last {FAULT_WARN_S:g} s ({total} since start)', values
    worst = max(snapshot.recent_faults, key=snapshot.faults.get)
    return WARN, f'{total} input faults, most: {worst} ({snapshot.fault_messages.get(worst, "")})', values


def weights_info(model):
    """What the model status says about the weights: where they came from and whether they are random."""
    weights = describe_weights(model)
    return {'weights': weights_line(weights), 'random_weights': bool(weights.get('random'))}


def model_status(snapshot):
    values = sorted(snapshot.model.items())
    message = ', '.join(f'{k}={v}' for k, v in values if k not in ('weights', 'random_weights'))
    if snapshot.model.get('random_weights'):
        return WARN, f'{RANDOM_WEIGHTS_BANNER} ({message})', values
    return OK, message, values


def _transport_status(snapshot):
    return transport_status(snapshot.transport, FAULT_WARN_S)


_SHARED_CONCERNS = (('inputs', inputs_status), ('transport', _transport_status), ('model', model_status))
_CAMERA_CONCERNS = (('pipeline', pipeline_status), ('alignment', alignment_status))


def health_to_diagnostics(snapshot, node_name, stamp, hardware_id='', cameras=()):
    """A diagnostic_msgs/DiagnosticArray with one status per concern.

    cameras: (camera, snapshot) pairs of a node serving several cameras; each gets its own pipeline and
    alignment status, named after it, while inputs, transport and model stay one each (from snapshot).
    """
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    array = DiagnosticArray()
    array.header.stamp = stamp
    per_camera = [(f'{camera} ', camera_snapshot) for camera, camera_snapshot in cameras] or [('', snapshot)]
    entries = [(prefix + concern, builder, camera_snapshot) for prefix, camera_snapshot in per_camera
               for concern, builder in _CAMERA_CONCERNS]
    entries += [(concern, builder, snapshot) for concern, builder in _SHARED_CONCERNS]
    for concern, builder, source in entries:
        level, message, values = builder(source)
        status = DiagnosticStatus()
        status.level = bytes([level])
        status.name = f'{node_name}: {concern}'
        status.message = message
        status.hardware_id = hardware_id
        status.values = [KeyValue(key=str(key), value=_fmt(value)) for key, value in values]
        array.status.append(status)
    return array
