"""Overlap of the next frame's host-to-device upload with the model on the current frame (CUDA only).

The model reads a frame that is already on the device (`predict_tensor` takes it as is) while the
next frame is copied from a pinned host buffer on a side stream; an event orders the copy before
that frame is used. The engine marks its stages with events on its own stream and never
synchronises the whole device, so the copy runs under the model. The measurement compares the same
work done back to back (upload after the model, on the same stream) with it done overlapped.
"""
import time

import numpy as np


def measure_upload_overlap(estimator, rgbs, processing_res, iters):
    """{'frames', 'upload_ms', 'sequential_ms', 'overlapped_ms', 'hidden_ms'}: medians over `iters` frames."""
    import torch
    device = estimator.device
    frames = np.stack(rgbs)
    side = torch.cuda.Stream(device)
    pinned = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
    pinned.numpy()[...] = frames
    # Two device buffers: the model reads `current` while the copy writes `upcoming`.
    current = torch.from_numpy(frames).to(device)
    upcoming = torch.empty_like(current)
    uploaded = torch.cuda.Event()

    def upload(stream):
        with torch.cuda.stream(stream):
            upcoming.copy_(pinned, non_blocking=True)
            uploaded.record(stream)

    def timed(work):
        samples = []
        for _ in range(iters + 1):
            torch.cuda.synchronize(device)
            start = time.perf_counter()
            work()
            torch.cuda.synchronize(device)
            samples.append(time.perf_counter() - start)
        return 1e3 * float(np.median(samples[1:]))

    def sequential():
        estimator.predict_tensor(current, processing_res)
        upload(torch.cuda.current_stream(device))

    def overlapped():
        upload(side)
        estimator.predict_tensor(current, processing_res)
        torch.cuda.current_stream(device).wait_event(uploaded)

    upload_ms = timed(lambda: upload(torch.cuda.current_stream(device)))
    sequential_ms = timed(sequential)
    overlapped_ms = timed(overlapped)
    return {'frames': len(rgbs), 'upload_ms': upload_ms, 'sequential_ms': sequential_ms,
            'overlapped_ms': overlapped_ms, 'hidden_ms': sequential_ms - overlapped_ms}
