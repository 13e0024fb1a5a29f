"""Ctrl-C for long commands: the first one asks the work to stop cleanly, a second one aborts at once."""
import signal
import sys
import threading
from types import FrameType
from typing import Any


class StopOnSigint:
    """Context manager; `requested()` turns true at the first Ctrl-C, after `message` is printed."""

    def __init__(self, message: str):
        self.message = message
        self._event = threading.Event()

    def requested(self) -> bool:
        return self._event.is_set()

    def __enter__(self) -> 'StopOnSigint':
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        print(f'\n{self.message}', file=sys.stderr, flush=True)
        self._event.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self._previous)
