"""Frames of several cameras through one model forward: one `DepthPipeline` per camera, one estimator.

Each camera keeps its own state (stamps, size, the temporal fit) in its own pipeline; only the
forward is shared. Frames of the same size and processing resolution go through the model as one
batch; the rest of each frame (alignment, metres, points) runs in its own pipeline, on the device
when the pipelines keep frames there. The two halves are separate (`forward_camera_batch`,
`finish_camera_batch`) so the pipelined frame path can run them in two threads.
"""
from collections.abc import Sequence
from dataclasses import dataclass
import time
from typing import cast

import numpy as np

from .depth_pipeline import DepthPipeline, ModelOutput, is_out_of_memory
from .errors import PipelineError
from .frames import FrameInput, FrameOutput, FrameWarning

CameraItems = Sequence[tuple[DepthPipeline, FrameInput]]


@dataclass
class Forwarded:
    """One frame after the model: its checked rgb, the model's output and the warnings so far."""
    rgb: np.ndarray
    prediction: ModelOutput
    inference_s: float
    warnings: list[FrameWarning]


@dataclass
class ForwardedBatch:
    """A batch after the model, per frame a `Forwarded` or the exception that ended that frame."""
    frames: list[Forwarded | Exception]
    started: float                          # perf_counter when the batch began (for the 'total' timing)


def process_camera_batch(items: CameraItems) -> list[FrameOutput | Exception]:
    """Outputs in input order; a frame that fails gets its exception in its place (ValueError: its input).

    Every pipeline must share one estimator. A lone frame, and every frame of a batch whose forward
    runs out of GPU memory or refuses an input, goes through its pipeline's own forward (with its
    out-of-memory ladder). Any other error of the shared forward is raised: it concerns every frame.
    """
    return finish_camera_batch(items, forward_camera_batch(items))


def forward_camera_batch(items: CameraItems) -> ForwardedBatch:
    """Each frame's checks (`begin`) and the model forward, same-size frames in one batch."""
    started = time.perf_counter()
    if not items:
        return ForwardedBatch([], started)
    estimator = items[0][0].estimator
    for index, (pipeline, _) in enumerate(items):
        if pipeline.estimator is not estimator:
            raise PipelineError(f'items[{index}]: every camera pipeline must share one estimator for a batched forward')
    results: list[Forwarded | Exception | None] = [None] * len(items)
    begun = {}
    for index, (pipeline, frame) in enumerate(items):
        warnings: list[FrameWarning] = []
        try:
            begun[index] = (pipeline.begin(frame, warnings), warnings)
        except ValueError as error:
            results[index] = error
    groups: dict[tuple[tuple[int, ...], int, bool], list[int]] = {}
    for index, (rgb, _) in begun.items():
        pipeline = items[index][0]
        groups.setdefault((rgb.shape, pipeline.processing_res, pipeline.device_frames), []).append(index)
    for (_, processing_res, _), indices in groups.items():
        first = items[indices[0]][0]
        if len(indices) > 1:
            t0 = time.perf_counter()
            try:
                predictions = first.predict_group([begun[index][0] for index in indices], processing_res)
                seconds = time.perf_counter() - t0
                for index, prediction in zip(indices, predictions):
                    rgb, warnings = begun[index]
                    results[index] = Forwarded(rgb, prediction, seconds, warnings)
            except Exception as error:  # noqa: BLE001 - OOM and bad input go frame by frame, the rest is raised
                if not (is_out_of_memory(error) or isinstance(error, ValueError)):
                    raise
        for index in indices:
            if results[index] is None:
                pipeline, (rgb, warnings) = items[index][0], begun[index]
                try:
                    prediction, seconds = pipeline._predict(rgb, warnings)
                    results[index] = Forwarded(rgb, prediction, seconds, warnings)
                except ValueError as error:             # this frame's input, e.g. too small for the model
                    results[index] = error
    return ForwardedBatch(cast('list[Forwarded | Exception]', results), started)   # every index is filled above


def finish_camera_batch(items: CameraItems, forwarded: ForwardedBatch) -> list[FrameOutput | Exception]:
    """Everything after the model, frame by frame in input order (each camera's fit state in order)."""
    results: list[FrameOutput | Exception] = []
    for (pipeline, frame), done in zip(items, forwarded.frames):
        if isinstance(done, Exception):
            results.append(done)
            continue
        try:
            results.append(pipeline.finish(frame, done.rgb, done.prediction, done.inference_s, done.warnings,
                                           forwarded.started))
        except Exception as error:  # noqa: BLE001 - one camera's failure must not cost the others their frame
            results.append(error)
    return results
