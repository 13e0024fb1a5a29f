"""Messages lost between the publisher and the node, per input, from publication sequence numbers.

A large best-effort message (a 640x480 rgb8 image is 900 KB) that default Fast DDS cannot carry
between processes is lost without a trace in the node; only the gap in the publisher's sequence
numbers (MessageInfo.publication_sequence_number, per publisher gid) shows it. The loss is reported
per input on /diagnostics with the one fix, so it is not mistaken for a late or missing other input.
"""
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import threading
import time
from typing import Any

LARGE_DATA_FIX = ('load the shipped Fast DDS profile in every process that exchanges these topics: '
                  'export FASTDDS_DEFAULT_PROFILES_FILE=<share>/depthmaster_ros/config/fastdds_large_data.xml '
                  '(the repository\'s config/ in the venv; also FASTRTPS_DEFAULT_PROFILES_FILE for Fast DDS 2), '
                  'then restart the driver and the node')


@dataclass(frozen=True)
class InputLoss:
    received: int
    lost: int
    recent_lost: int          # lost within the recent window
    sequenced: bool           # False: the middleware gives no sequence numbers, losses cannot be seen

    @property
    def ratio(self) -> float:
        total = self.received + self.lost
        return self.lost / total if total else 0.0


class _Input:
    def __init__(self) -> None:
        self.received = 0
        self.lost = 0
        self.sequenced = False
        self.last_by_publisher: dict[bytes, int] = {}
        self.recent: deque[tuple[float, int]] = deque()      # (time, lost) of each gap


class TransportLoss:
    """Thread-safe per-input counters of received and lost messages."""

    def __init__(self, window_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._inputs: dict[str, _Input] = {}
        self._lock = threading.Lock()

    def observe(self, name: str, info: Mapping[str, Any] | None) -> int:
        """Count one received message of input `name` from its MessageInfo; returns the messages lost before it."""
        sequence = (info or {}).get('publication_sequence_number')
        publisher = ((info or {}).get('publisher_gid') or {}).get('data', b'')
        with self._lock:
            entry = self._inputs.setdefault(name, _Input())
            entry.received += 1
            if sequence is None:
                return 0
            entry.sequenced = True
            key = bytes(publisher)
            last = entry.last_by_publisher.get(key)
            gap = sequence - last - 1 if last is not None and sequence > last + 1 else 0
            if last is None or sequence > last:
                entry.last_by_publisher[key] = sequence
            if gap:
                entry.lost += gap
                entry.recent.append((self._clock(), gap))
            return gap

    def snapshot(self) -> dict[str, InputLoss]:
        now = self._clock()
        with self._lock:
            result = {}
            for name, entry in sorted(self._inputs.items()):
                while entry.recent and now - entry.recent[0][0] > self.window_s:
                    entry.recent.popleft()
                result[name] = InputLoss(entry.received, entry.lost, sum(n for _, n in entry.recent), entry.sequenced)
            return result


def transport_status(losses: Mapping[str, InputLoss], window_s: float) -> tuple[int, str, list[tuple[str, Any]]]:
    """(level, message, values) for /diagnostics: WARN naming each input that lost messages recently, with the fix."""
    values: list[tuple[str, Any]] = []
    for name, loss in losses.items():
        values += [(f'{name}_received', loss.received), (f'{name}_lost', loss.lost),
                   (f'{name}_lost_ratio', round(loss.ratio, 4)), (f'{name}_sequence_numbers', loss.sequenced)]
    losing = [f'{name}: {loss.lost} of {loss.received + loss.lost} lost ({loss.ratio:.0%})'
              for name, loss in losses.items() if loss.recent_lost]
    if losing:
        return 1, f'messages lost in transport ({"; ".join(losing)}): {LARGE_DATA_FIX}', values
    if not losses:
        return 0, 'no input messages yet', values
    return 0, f'no messages lost in transport in the last {window_s:g} s', values
