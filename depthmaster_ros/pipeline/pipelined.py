"""The frame path in three stages, so the device's forward of one frame overlaps the host's work on another.

Stage 1 runs each frame's checks and the model forward in the caller's thread (on CUDA on a stream of
its own, so host work never waits on the device by accident); stage 2 finishes frames in the order
they were taken (fit, local correction, confidence, metres, cloud: each camera's temporal fit stays
sequential); stage 3 hands the outputs to the adapter (the node publishes, the bag tool serialises
and writes). At most `in_flight` jobs are between the start of their forward and the end of stage 3,
and the caller takes its next frame only when its last forward is over and a slot is free
(`wait_for_slot`), so a frame waiting for the forward still waits where a newer one replaces it (the
node's mailbox). With `in_flight` 1 the three stages run in turn in the caller's thread: the serial
path, with the same functions, so both give the same outputs.

An error the stages do not turn into a frame result (the adapter's own stage 3 failing) stops the
pipeline; `submit`, `drain` and `close` raise it in the producer's thread.
"""
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import queue
import threading
import time
from typing import Any

from .camera_batch import CameraItems, ForwardedBatch, finish_camera_batch, forward_camera_batch
from .errors import PipelineError
from .frames import FrameOutput

MAX_IN_FLIGHT = 3            # one frame in the forward, one being finished, one being published or written

FrameResults = list[FrameOutput | Exception]


@dataclass
class FrameJob:
    """Frames to run together (one per camera) and what the adapter needs to emit them.

    A job without items passes through the stages untouched and is emitted in its place in the
    order (the bag tool's copied input messages); it takes no slot.
    """
    items: CameraItems
    context: Any = None
    forwarded: ForwardedBatch | None = field(default=None, repr=False)
    handoff: Any = field(default=None, repr=False)       # the CUDA event the forward recorded
    results: FrameResults = field(default_factory=list, repr=False)


_STOP = object()


class PipelinedFrames:
    """Forward, finish and emit of frame jobs, in order, with a bounded number of jobs in flight."""

    def __init__(self, emit: Callable[[FrameJob, FrameResults], None], in_flight: int, name: str = 'frames'):
        if not 1 <= in_flight <= MAX_IN_FLIGHT:
            raise PipelineError(f'in_flight: must be 1 to {MAX_IN_FLIGHT}, got {in_flight}')
        self.in_flight = in_flight
        self._emit = emit
        self._slots = threading.BoundedSemaphore(in_flight)
        self._held = False                  # the producer holds a slot it waited for
        self._idle = threading.Condition()
        self._pending = 0                   # jobs submitted and not yet emitted
        self._dropping = False
        self._error: BaseException | None = None
        self._stream = _ForwardStream()
        self._threads: list[threading.Thread] = []
        if in_flight > 1:
            self._to_finish: queue.Queue[object] = queue.Queue()
            self._to_emit: queue.Queue[object] = queue.Queue()
            stages = ((self._to_finish, self._finish, self._to_emit, 'finish'),
                      (self._to_emit, self._emit_job, None, 'emit'))
            self._threads = [threading.Thread(target=self._stage, args=stage[:3], name=f'{name}_{stage[3]}',
                                              daemon=True) for stage in stages]
            for thread in self._threads:
                thread.start()

    # producer side ------------------------------------------------------------------------------
    def wait_for_slot(self, timeout: float | None = None) -> bool:
        """Hold a slot for the next job; False when none freed within timeout. Call before taking a frame."""
        self._raise_error()
        if not self._held:
            self._held = self._slots.acquire(timeout=timeout) if timeout is not None else self._slots.acquire()
        return self._held

    def submit(self, job: FrameJob) -> None:
        """Run `job`'s forward here, then hand it on (all stages here when in_flight is 1).

        Waits for a slot when the caller holds none.
        """
        self._raise_error()
        if job.items:
            self.wait_for_slot()
            self._held = False
        with self._idle:
            self._pending += 1
        self._run_step(self._forward, job)
        if not self._threads:
            for step in (self._finish, self._emit_job):
                self._run_step(step, job)
            self._raise_error()
            return
        self._to_finish.put(job)

    def drain(self) -> None:
        """Wait until every submitted job has been emitted (a configuration change applies after it)."""
        with self._idle:
            while self._pending and self._error is None:
                self._idle.wait(0.1)
        self._raise_error()

    def close(self, drop: bool = False, timeout: float | None = None) -> bool:
        """Stop the stages: emit what is in flight, or with drop skip it (a forward under way still ends).

        Raises a stage error unless dropping; returns False when a stage was still busy after timeout.
        """
        if drop:
            self._dropping = True
        if self._threads:
            self._to_finish.put(_STOP)
            deadline = None if timeout is None else time.monotonic() + timeout
            for thread in self._threads:
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if any(thread.is_alive() for thread in self._threads):
                return False
            self._threads = []
        if not drop:
            self._raise_error()
        return True

    # the stages ------------------------------------------------------------------------------------
    def _stage(self, source: 'queue.Queue[object]', step: Callable[[FrameJob], None],
               target: 'queue.Queue[object] | None') -> None:
        while True:
            job = source.get()
            if job is _STOP:
                if target is not None:
                    target.put(_STOP)
                return
            assert isinstance(job, FrameJob)        # the queues carry jobs and the stop sentinel only
            self._run_step(step, job)
            if target is not None:
                target.put(job)

    def _run_step(self, step: Callable[[FrameJob], None], job: FrameJob) -> None:
        if self._dropping or self._error is not None:
            if step == self._emit_job:
                self._done(job)
            return
        try:
            step(job)
        except BaseException as error:  # noqa: BLE001 - handed to the producer, the stages stop taking work
            self._error = error

    def _forward(self, job: FrameJob) -> None:
        if not job.items:
            return
        with self._stream.context(job.items[0][0].estimator):
            try:
                job.forwarded = forward_camera_batch(job.items)
            except Exception as error:  # noqa: BLE001 - an error of the shared forward is every frame's result
                job.results = [error] * len(job.items)
                return
            job.handoff = self._stream.handoff()

    def _finish(self, job: FrameJob) -> None:
        if job.forwarded is None:
            return
        self._stream.receive(job.handoff, job.forwarded)
        job.results = finish_camera_batch(job.items, job.forwarded)
        job.forwarded = None                  # the device maps go with the last reference

    def _emit_job(self, job: FrameJob) -> None:
        try:
            self._emit(job, job.results)
        finally:
            self._done(job)

    def _done(self, job: FrameJob) -> None:
        if job.items:
            self._slots.release()
        with self._idle:
            self._pending -= 1
            self._idle.notify_all()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._dropping = True             # what was in flight after the error is not emitted
            raise error


class _ForwardStream:
    """The forward's own CUDA stream; the finish stage waits on the event it records (no-op off CUDA)."""

    def __init__(self) -> None:
        self._streams: dict[Any, Any] = {}
        self._current: Any = None

    def _stream_for(self, estimator: Any) -> Any:
        device = getattr(estimator, 'device', None)
        if getattr(device, 'type', None) != 'cuda':
            return None
        import torch
        if device not in self._streams:
            self._streams[device] = torch.cuda.Stream(device=device)
        return self._streams[device]

    def context(self, estimator: Any) -> Any:
        """Run the forward on the estimator's own stream (CUDA), else as it is."""
        self._current = self._stream_for(estimator)
        if self._current is None:
            return contextlib.nullcontext()
        import torch
        return torch.cuda.stream(self._current)

    def handoff(self) -> Any:
        """(event, device) recorded after the forward's work on its stream; None off CUDA."""
        stream, self._current = self._current, None
        if stream is None:
            return None
        import torch
        event = torch.cuda.Event()
        event.record(stream)
        return event, stream.device

    @staticmethod
    def receive(handoff: Any, forwarded: ForwardedBatch) -> None:
        """The finish thread's stream waits for the forward; device maps are marked as used on it."""
        if handoff is None:
            return
        import torch
        event, device = handoff
        current = torch.cuda.current_stream(device)
        current.wait_event(event)
        for frame in forwarded.frames:
            relative = getattr(getattr(frame, 'prediction', None), 'maps', None)
            tensor = getattr(relative, 'relative', None)
            if tensor is not None and hasattr(tensor, 'record_stream'):
                tensor.record_stream(current)

