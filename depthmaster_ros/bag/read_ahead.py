"""Reading ahead: a producer runs in a thread of its own and hands what it makes over a bounded queue.

The bag tool's reader (reading, decoding, frame assembly) runs a few jobs ahead of the model forward,
so neither waits for the other. The consumer sees the producer's error in its own thread; closing
stops a producer that waits to hand something over.
"""
from collections.abc import Callable, Iterator
import contextlib
import queue
import threading
from typing import Any


class _Aborted(Exception):
    """The consumer of a read-ahead stopped; the reader ends quietly."""


_END = object()


class ReadAhead:
    """Runs `produce(send)` in a reader thread; `jobs()` yields what it sends, at most `depth` ahead."""

    def __init__(self, produce: Callable[[Callable[[Any], None]], None], depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._abort = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(produce,), name='bag_reader', daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[Callable[[Any], None]], None]) -> None:
        try:
            produce(self._send)
            self._send(_END)
        except _Aborted:
            return
        except BaseException as error:  # noqa: BLE001 - raised again in the consumer's thread
            with contextlib.suppress(_Aborted):
                self._send(error)

    def _send(self, item: Any) -> None:
        while True:
            if self._abort.is_set():
                raise _Aborted
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=0.1)
                return

    def jobs(self) -> Iterator[Any]:
        """What the reader sends, in order; the reader's error is raised here."""
        while True:
            try:
                item = self._queue.get(timeout=0.1)      # a timeout, so Ctrl-C reaches this thread
            except queue.Empty:
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the reader (it may be waiting to send) and join it."""
        self._abort.set()
        self._thread.join()
