"""Ground truth in a bag: depth images by stamp, waiting for their frame, and a frame's errors against them."""
from typing import Any

import numpy as np

from depthmaster_ros.config import AlignmentSettings
from depthmaster_ros.conversions import ImplausibleSize, stamp_to_ns
from depthmaster_ros.geometry import DepthErrors, depth_errors
from depthmaster_ros.pipeline import FaultCounters

# Unmatched ground-truth images kept while waiting for their camera frame.
GT_BACKLOG = 64


def add_ground_truth(ground_truth: dict[int, np.ndarray], message: Any, faults: FaultCounters) -> None:
    """GT depth in metres by stamp: 32FC1 metres or 16UC1 millimetres (0 = invalid), REP 118."""
    from depthmaster_ros.conversions import image_to_numpy
    try:
        depth = np.asarray(image_to_numpy(message), dtype=np.float32)
    except ImplausibleSize:
        raise                                       # a record that lies refuses the bag (bag/refusal.py)
    except ValueError as error:
        faults.record('ground_truth', str(error))
        return
    if depth.ndim != 2:
        faults.record('ground_truth', f'{message.encoding}: ground truth must be a single-channel depth image')
        return
    if str(message.encoding).upper() == '16UC1':
        depth = np.where(depth > 0, depth / 1000.0, np.nan).astype(np.float32)
    ground_truth[stamp_to_ns(message.header.stamp)] = depth
    while len(ground_truth) > GT_BACKLOG:          # ground truth no frame claimed: forget the oldest
        ground_truth.pop(next(iter(ground_truth)))


def _resized_nearest(array, shape):
    import cv2
    if array.shape == shape:
        return array
    return cv2.resize(array, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def errors_against(depth_m: np.ndarray | None, gt: np.ndarray, settings: AlignmentSettings) -> DepthErrors | None:
    """A frame's depth errors against its ground truth (at the ground truth's size); None without metres."""
    if depth_m is None:
        return None
    return depth_errors(_resized_nearest(depth_m, gt.shape), gt, min_depth=settings.min_depth,
                        max_depth=settings.max_depth)
