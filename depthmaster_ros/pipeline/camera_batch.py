"""Frames of several cameras through one model forward: one `DepthPipeline` per camera, one estimator.

Each camera keeps its own state (stamps, size, the temporal fit) in its own pipeline; only the
forward is shared. Frames of the same size and processing resolution go through the model as one
batch; the rest of each frame (alignment, metres, points) runs in its own pipeline, on the device
when the pipelines keep frames there.
"""
import time
from typing import cast
from collections.abc import Sequence

from .depth_pipeline import DepthPipeline, is_out_of_memory
from .frames import FrameInput, FrameOutput, FrameWarning


def process_camera_batch(items: Sequence[tuple[DepthPipeline, FrameInput]]) -> list[FrameOutput | ValueError]:
    """Outputs in input order; a frame that fails its input checks gets its ValueError in its place.

    Every pipeline must share one estimator. A batch that runs out of GPU memory is retried frame by
    frame, each through its pipeline's own out-of-memory ladder.
    """
    if not items:
        return []
    estimator = items[0][0].estimator
    for index, (pipeline, _) in enumerate(items):
        if pipeline.estimator is not estimator:
            raise ValueError(f'items[{index}]: every camera pipeline must share one estimator for a batched forward')
    started = time.perf_counter()
    results: list[FrameOutput | ValueError | None] = [None] * len(items)
    begun = {}
    for index, (pipeline, frame) in enumerate(items):
        warnings: list[FrameWarning] = []
        try:
            begun[index] = (pipeline.begin(frame, warnings), warnings)
        except ValueError as error:
            results[index] = error
    groups: dict[tuple, list[int]] = {}
    for index, (rgb, _) in begun.items():
        pipeline = items[index][0]
        groups.setdefault((rgb.shape, pipeline.processing_res, pipeline.device_frames), []).append(index)
    for (_, processing_res, _), indices in groups.items():
        first = items[indices[0]][0]
        t0 = time.perf_counter()
        try:
            predictions = first.predict_group([begun[index][0] for index in indices], processing_res)
            inference = [time.perf_counter() - t0] * len(indices)
        except Exception as error:  # noqa: BLE001 - only CUDA OOM is handled, everything else re-raised
            if not is_out_of_memory(error) or len(indices) == 1:
                raise
            predictions, inference = [], []
            for index in indices:
                pipeline, (rgb, warnings) = items[index][0], begun[index]
                prediction, seconds = pipeline._predict(rgb, warnings)
                predictions.append(prediction)
                inference.append(seconds)
        for index, prediction, seconds in zip(indices, predictions, inference):
            (pipeline, frame), (rgb, warnings) = items[index], begun[index]
            results[index] = pipeline.finish(frame, rgb, prediction, seconds, warnings, started)
    return cast('list[FrameOutput | ValueError]', results)     # every index is filled above
