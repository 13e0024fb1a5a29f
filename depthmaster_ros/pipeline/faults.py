"""Counting input faults by kind, with a rate limit on the log line each one deserves.

The node and the bag tool meet the same bad data (broken encodings, missing calibration, stale
clouds); both count it here so the diagnostics and the bag report use the same names.
"""
from collections import Counter
from collections.abc import Callable
import threading
import time


class FaultCounters:
    """Per-kind counters, the last message per kind, and a per-kind log throttle."""

    def __init__(self, throttle_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.throttle_s = throttle_s
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._last_message: dict[str, str] = {}
        self._last_seen: dict[str, float] = {}
        self._last_logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, kind: str, message: str) -> bool:
        """Count one fault; returns True when its log line is due (first time, or after the throttle)."""
        now = self._clock()
        with self._lock:
            self._counts[kind] += 1
            self._last_message[kind] = message
            self._last_seen[kind] = now
            last = self._last_logged.get(kind)
            if last is None or now - last >= self.throttle_s:
                self._last_logged[kind] = now
                return True
            return False

    def count(self, kind: str) -> int:
        with self._lock:
            return self._counts[kind]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def last_messages(self) -> dict[str, str]:
        with self._lock:
            return dict(self._last_message)

    def recent(self, window_s: float) -> set[str]:
        """Kinds seen within the last window_s seconds (a fault long past is history, not a state)."""
        now = self._clock()
        with self._lock:
            return {kind for kind, seen in self._last_seen.items() if now - seen <= window_s}

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())
