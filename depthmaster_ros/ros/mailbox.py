"""One-slot hand-offs between fast producers (ROS callbacks) and one slow consumer (the model).

Depth from an old frame is worth less than depth from the newest one, so a new frame replaces a
pending one instead of queueing behind it; the replaced frame is counted as dropped. Each camera
(key) has its own slot, so one camera's stream never replaces another's frame, and the consumer can
take every camera's pending frame at once for one batched forward.
"""
from collections.abc import Hashable
import threading
import time
from typing import Any

_COUNTERS = ('received', 'dropped', 'processed')


class LatestFrameMailbox:
    """Thread-safe single slot per key with received / dropped / processed counters per key."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._items: dict[Hashable, Any] = {}          # pending item per key, in the order the slots filled
        self._counts: dict[Hashable, dict[str, int]] = {}
        self._closed = False

    def put(self, item: Any, key: Hashable = '') -> bool:
        """Store item as the key's pending one; returns True when it replaced an unprocessed item."""
        with self._condition:
            counts = self._counts.setdefault(key, dict.fromkeys(_COUNTERS, 0))
            replaced = key in self._items
            counts['received'] += 1
            if replaced:
                counts['dropped'] += 1
            self._items[key] = item
            self._condition.notify()
            return replaced

    def take(self, timeout: float | None = None) -> Any:
        """Wait up to timeout seconds for a pending item (the longest-waiting slot's); None on timeout or once closed."""
        taken = self._take(timeout, every=False)
        return taken[0][1] if taken else None

    def take_all(self, timeout: float | None = None) -> list[tuple[Any, Any]]:
        """Wait up to timeout seconds, then take every pending (key, item); [] on timeout or once closed."""
        return self._take(timeout, every=True)

    def _take(self, timeout, every):
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._items and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return []
                self._condition.wait(remaining)
            if self._closed:
                return []
            keys = list(self._items) if every else [next(iter(self._items))]
            taken = [(key, self._items.pop(key)) for key in keys]
            for key in keys:
                self._counts[key]['processed'] += 1
            return taken

    def close(self) -> None:
        """Wake every waiting taker; later takes return nothing at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def counters(self, key: Hashable | None = None) -> dict[str, int]:
        """One key's counters, or the totals over every key (None)."""
        with self._condition:
            if key is not None:
                return dict(self._counts.get(key, dict.fromkeys(_COUNTERS, 0)))
            return {name: sum(counts[name] for counts in self._counts.values()) for name in _COUNTERS}
