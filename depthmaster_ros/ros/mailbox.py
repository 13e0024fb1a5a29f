"""A one-slot hand-off between fast producers (ROS callbacks) and one slow consumer (the model).

Depth from an old frame is worth less than depth from the newest one, so a new frame replaces a
pending one instead of queueing behind it; the replaced frame is counted as dropped.
"""
import threading
import time


class LatestFrameMailbox:
    """Thread-safe single slot with received / dropped / processed counters."""

    def __init__(self):
        self._condition = threading.Condition()
        self._item = None
        self._has_item = False
        self._closed = False
        self.received = 0
        self.dropped = 0
        self.processed = 0

    def put(self, item):
        """Store item as the pending one; returns True when it replaced an unprocessed item."""
        with self._condition:
            replaced = self._has_item
            self.received += 1
            if replaced:
                self.dropped += 1
            self._item = item
            self._has_item = True
            self._condition.notify()
            return replaced

    def take(self, timeout=None):
        """Wait up to timeout seconds for the pending item; None on timeout or once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._has_item and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
            if self._closed:
                return None
            item, self._item, self._has_item = self._item, None, False
            self.processed += 1
            return item

    def close(self):
        """Wake every waiting taker; later takes return None at once."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    @property
    def closed(self):
        return self._closed

    def counters(self):
        with self._condition:
            return {'received': self.received, 'dropped': self.dropped, 'processed': self.processed}
