"""Frames of several cameras through one model forward: one `DepthPipeline` per camera, one estimator.

Each camera keeps its own state (stamps, size, the temporal fit) in its own pipeline; only the
forward is shared. Frames of the same size and processing resolution go through the model as one
batch; the rest of each frame (alignment, metres, points) runs in its own pipeline, on the device
when the pipelines keep frames there.
"""
from collections.abc import Sequence
import time
from typing import cast

from .depth_pipeline import DepthPipeline, ModelOutput, is_out_of_memory
from .errors import PipelineError
from .frames import FrameInput, FrameOutput, FrameWarning


def process_camera_batch(items: Sequence[tuple[DepthPipeline, FrameInput]]) -> list[FrameOutput | Exception]:
    """Outputs in input order; a frame that fails gets its exception in its place (ValueError: its input).

    Every pipeline must share one estimator. A lone frame, and every frame of a batch whose forward
    runs out of GPU memory or refuses an input, goes through its pipeline's own forward (with its
    out-of-memory ladder). Any other error of the shared forward is raised: it concerns every frame.
    """
    if not items:
        return []
    estimator = items[0][0].estimator
    for index, (pipeline, _) in enumerate(items):
        if pipeline.estimator is not estimator:
            raise PipelineError(f'items[{index}]: every camera pipeline must share one estimator for a batched forward')
    started = time.perf_counter()
    results: list[FrameOutput | Exception | None] = [None] * len(items)
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
        predicted: dict[int, tuple[ModelOutput, float]] = {}
        if len(indices) > 1:
            t0 = time.perf_counter()
            try:
                predictions = first.predict_group([begun[index][0] for index in indices], processing_res)
                seconds = time.perf_counter() - t0
                predicted = {index: (prediction, seconds) for index, prediction in zip(indices, predictions)}
            except Exception as error:  # noqa: BLE001 - OOM and bad input go frame by frame, the rest is raised
                if not (is_out_of_memory(error) or isinstance(error, ValueError)):
                    raise
        for index in indices:
            if index not in predicted:
                pipeline, (rgb, warnings) = items[index][0], begun[index]
                try:
                    predicted[index] = pipeline._predict(rgb, warnings)
                except ValueError as error:             # this frame's input, e.g. too small for the model
                    results[index] = error
        for index, (prediction, seconds) in predicted.items():
            (pipeline, frame), (rgb, warnings) = items[index], begun[index]
            try:
                results[index] = pipeline.finish(frame, rgb, prediction, seconds, warnings, started)
            except Exception as error:  # noqa: BLE001 - one camera's failure must not cost the others their frame
                results[index] = error
    return cast('list[FrameOutput | Exception]', results)     # every index is filled above

