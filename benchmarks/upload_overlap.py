"""Overlap of the next frame's host-to-device upload with the model on the current frame (CUDA only).

The next frame is copied from a pinned host buffer on a side stream while the default stream runs
the model; an event orders the two before the frame is used. The measurement compares the same
work done back to back with it done overlapped. An engine that synchronises the whole device
between its stages (torch.cuda.synchronize waits for every stream) serialises the copy again; the
report then shows no gain, which is the point of measuring it.
"""
import time

import numpy as np


def measure_upload_overlap(estimator, rgbs, processing_res, iters):
    """{'upload_ms', 'sequential_ms', 'overlapped_ms', 'hidden_ms'} medians over `iters` frames."""
    import torch
    device = estimator.device
    frames = np.stack(rgbs)
    side = torch.cuda.Stream(device)
    pinned = torch.empty(frames.shape, dtype=torch.uint8, pin_memory=True)
    pinned.numpy()[...] = frames
    next_frame = torch.empty(frames.shape, dtype=torch.uint8, device=device)
    uploaded = torch.cuda.Event()

    def upload(stream):
        with torch.cuda.stream(stream):
            next_frame.copy_(pinned, non_blocking=True)
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
        estimator.predict_tensor(frames, processing_res)
        upload(torch.cuda.current_stream(device))

    def overlapped():
        upload(side)
        estimator.predict_tensor(frames, processing_res)
        torch.cuda.current_stream(device).wait_event(uploaded)

    upload_ms = timed(lambda: upload(torch.cuda.current_stream(device)))
    sequential_ms = timed(sequential)
    overlapped_ms = timed(overlapped)
    return {'frames': len(rgbs), 'upload_ms': upload_ms, 'sequential_ms': sequential_ms,
            'overlapped_ms': overlapped_ms, 'hidden_ms': sequential_ms - overlapped_ms}
