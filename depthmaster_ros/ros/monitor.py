"""A running node seen from outside: per output its rate, loss, latency, stamp order and size, and the
node's /diagnostics summary (`depthmaster-ros monitor`).

The venv has no `ros2` CLI; this is what `ros2 topic hz`, `delay` and `bw` would say, for the node's
outputs only. Outputs are found in the ROS graph (so every camera of a `cameras` node shows), received
serialized (a depth image is never decoded) and stamped from the CDR header every output starts with.
"""
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
import importlib
import struct
import time
from typing import Any

from depthmaster_ros.pipeline import OUTPUT_TOPICS

from .qos import output_qos
from .transport_stats import TransportLoss

_LATENCY_MESSAGES = 50          # latency over the last this many messages of each output
_LEVELS = {0: 'OK', 1: 'WARN', 2: 'ERROR', 3: 'STALE'}


@dataclass(frozen=True)
class OutputStats:
    topic: str
    type: str
    received: int
    lost: int                   # gaps in the publisher's sequence numbers: sent, never received here
    rate_hz: float              # over the recent window
    latency_mean_ms: float      # receipt (wall clock) minus header stamp, over the last messages
    latency_max_ms: float
    stamps_back: int            # messages whose stamp did not increase over the one before
    size_bytes: int             # serialized size of the last message


@dataclass(frozen=True)
class DiagnosticLine:
    name: str
    level: str
    message: str


@dataclass(frozen=True)
class MonitorReport:
    outputs: list[OutputStats]
    diagnostics: list[DiagnosticLine]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def header_stamp_ns(serialized: bytes) -> int:
    """The header stamp of a serialized message whose first field is std_msgs/Header (every output's)."""
    order = '<' if serialized[1] & 1 else '>'           # CDR encapsulation: odd kind = little endian
    sec, nanosec = struct.unpack_from(order + 'iI', serialized, 4)
    return sec * 1_000_000_000 + nanosec


def is_output(topic: str, namespace: str) -> bool:
    """A node output under namespace (directly or under one of its cameras' namespaces)."""
    prefix = namespace.rstrip('/') + '/'
    return topic.startswith(prefix) and any(topic.endswith('/' + name) for name in OUTPUT_TOPICS.values())


def message_class(type_name: str) -> Any:
    package, kind, name = type_name.split('/')
    return getattr(importlib.import_module(f'{package}.{kind}'), name)


def watch(namespace: str, node_name: str, reliability: str, period_s: float, duration_s: float | None,
          show: Callable[[MonitorReport], None], stop: Callable[[], bool] = lambda: False) -> MonitorReport:
    """Monitor in an own rclpy context; show(report) every period_s until duration_s (None: until stop())."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    context = rclpy.Context()
    rclpy.init(args=None, context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = Node('depthmaster_monitor', context=context, start_parameter_services=False)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        monitor = OutputMonitor(node, namespace, node_name, reliability)
        end = None if duration_s is None else time.monotonic() + duration_s
        next_show = time.monotonic() + period_s
        while not stop() and (end is None or time.monotonic() < end):
            monitor.discover()
            executor.spin_once(timeout_sec=0.05)
            if time.monotonic() >= next_show:
                next_show += period_s
                show(monitor.report())
        return monitor.report()
    finally:
        executor.shutdown(timeout_sec=0.5)
        node.destroy_node()
        rclpy.shutdown(context=context)
        context.destroy()


class _TopicWatch:
    def __init__(self, topic: str, type_name: str, window_s: float):
        self.topic, self.type_name, self.window_s = topic, type_name, window_s
        self.arrivals: deque[float] = deque()                   # monotonic receipt times in the window
        self.latencies_s: deque[float] = deque(maxlen=_LATENCY_MESSAGES)
        self.received = self.stamps_back = self.size_bytes = 0
        self.last_stamp_ns: int | None = None

    def add(self, serialized: bytes) -> None:
        now, wall_ns = time.monotonic(), time.time_ns()
        stamp_ns = header_stamp_ns(serialized)
        if self.last_stamp_ns is not None and stamp_ns <= self.last_stamp_ns:
            self.stamps_back += 1
        self.last_stamp_ns = stamp_ns
        self.received += 1
        self.size_bytes = len(serialized)
        self.arrivals.append(now)
        self.latencies_s.append((wall_ns - stamp_ns) / 1e9)

    def stats(self, lost: int) -> OutputStats:
        now = time.monotonic()
        while self.arrivals and now - self.arrivals[0] > self.window_s:
            self.arrivals.popleft()
        span = now - self.arrivals[0] if self.arrivals else 0.0
        rate = (len(self.arrivals) - 1) / span if span > 0 else 0.0
        latencies = self.latencies_s
        mean = 1e3 * sum(latencies) / len(latencies) if latencies else float('nan')
        return OutputStats(self.topic, self.type_name, self.received, lost, round(rate, 2), round(mean, 1),
                           round(1e3 * max(latencies, default=float('nan')), 1), self.stamps_back, self.size_bytes)


class OutputMonitor:
    """Subscribes to every output of the node under namespace as it appears, and to /diagnostics.

    node: an rclpy node to subscribe with; node_name: the node whose diagnostics statuses are shown.
    """

    def __init__(self, node: Any, namespace: str = '/', node_name: str = 'depthmaster_node',
                 reliability: str = 'reliable', depth: int = 10, window_s: float = 5.0):
        from diagnostic_msgs.msg import DiagnosticArray
        self.node, self.namespace, self.node_name, self.window_s = node, namespace, node_name, window_s
        self._qos = output_qos(reliability, depth)     # reliable: what depth_image_proc would get
        self._watches: dict[str, _TopicWatch] = {}
        self._subscriptions: list[Any] = []
        self._loss = TransportLoss(window_s)
        self._statuses: dict[str, DiagnosticLine] = {}
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)

    def discover(self) -> None:
        """Subscribe to outputs that appeared in the graph since the last call."""
        for topic, types in self.node.get_topic_names_and_types():
            if topic in self._watches or not is_output(topic, self.namespace) or len(types) != 1:
                continue
            watch = self._watches[topic] = _TopicWatch(topic, types[0], self.window_s)
            self._subscriptions.append(self.node.create_subscription(
                message_class(types[0]), topic, lambda data, info, watch=watch: self._on_output(watch, data, info),
                self._qos, raw=True))

    def _on_output(self, watch: _TopicWatch, data: bytes, info: Any) -> None:
        self._loss.observe(watch.topic, info)
        watch.add(data)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.startswith(f'{self.node_name}:'):
                level = _LEVELS.get(int.from_bytes(bytes(status.level), 'little'), str(status.level))
                self._statuses[status.name] = DiagnosticLine(status.name, level, status.message)

    def report(self) -> MonitorReport:
        losses = self._loss.snapshot()
        outputs = [watch.stats(losses[topic].lost if topic in losses else 0)
                   for topic, watch in sorted(self._watches.items())]
        return MonitorReport(outputs, [self._statuses[name] for name in sorted(self._statuses)])


def format_report(report: MonitorReport) -> str:
    """The terminal table: one line per output, then one per diagnostics status."""
    width = max([len(o.topic) for o in report.outputs] + [len('output')])
    lines = [f'{"output":<{width}}  {"rate Hz":>8}  {"received":>8}  {"lost":>6}  {"latency ms mean/max":>20}  '
             f'{"stamps back":>11}  {"size":>10}']
    for o in report.outputs:
        latency = f'{o.latency_mean_ms:.0f} / {o.latency_max_ms:.0f}'
        lines.append(f'{o.topic:<{width}}  {o.rate_hz:>8.2f}  {o.received:>8}  {o.lost:>6}  {latency:>20}  '
                     f'{o.stamps_back:>11}  {_size(o.size_bytes):>10}')
    if not report.outputs:
        lines.append('(no output of the node seen yet: is it running, in this namespace and ROS_DOMAIN_ID?)')
    lines.append('')
    lines += [f'[{d.level:<5}] {d.name}: {d.message}' for d in report.diagnostics] or \
        ['(no /diagnostics from the node yet)']
    return '\n'.join(lines)


def _size(size_bytes: int) -> str:
    for unit, scale in (('MB', 1e6), ('KB', 1e3)):
        if size_bytes >= scale:
            return f'{size_bytes / scale:.1f} {unit}'
    return f'{size_bytes} B'
