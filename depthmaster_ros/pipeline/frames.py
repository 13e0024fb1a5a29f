"""What goes into one frame and what comes out: the contract between the adapters and the pipeline."""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from depthmaster_ros.alignment import AlignmentRecord
from depthmaster_ros.geometry import StampedCloud

if TYPE_CHECKING:
    from depthmaster_ros.geometry import CameraModel, TransformLookup
    from depthmaster_ros.pipeline.navigation import NavigationOutput

# Kinds of frame warning: each is a counter on /diagnostics and in the bag summary.
STAMP_ZERO = 'image_stamp_zero'
STAMP_ORDER = 'image_stamp_order'
SIZE_CHANGE = 'image_size_change'
EMPTY_FRAME_ID = 'image_frame_id'
ALIGNMENT = 'alignment'
CUDA_OOM = 'cuda_out_of_memory'
NAVIGATION_FRAME = 'navigation_frame'


@dataclass(frozen=True)
class FrameWarning:
    """Something wrong with a frame that was still processed: a counter kind and the sentence for the log."""
    kind: str
    text: str


@dataclass
class FrameInput:
    rgb: np.ndarray                          # (H, W, 3) uint8
    stamp_ns: int
    frame_id: str                            # the camera optical frame
    camera: 'CameraModel | None' = None      # intrinsics for the rgb size
    cloud: StampedCloud | None = None
    transforms: 'TransformLookup | None' = None
    cloud_miss_reason: str = ''              # why the adapter found no cloud for this frame (for the record)
    camera_miss_reason: str = ''             # why the adapter has no camera for this frame (for the record)


@dataclass
class FrameOutput:
    depth_m: np.ndarray | None       # (h, w) float32 metres, NaN invalid; None without metres
    relative: np.ndarray | None      # (h, w) float32 in `space`; None when kept on the device unpublished
    space: str
    confidence: np.ndarray | None    # (h, w) float32
    camera: 'CameraModel | None'     # intrinsics matching depth/relative
    points: np.ndarray | None        # (h', w', 3) organised or (N, 3), float32, camera optical frame
    colors: np.ndarray | None        # uint8 rgb matching points
    record: AlignmentRecord
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[FrameWarning] = field(default_factory=list)
    navigation: 'NavigationOutput | None' = None    # depth/scan and depth/obstacles, from the published metres
