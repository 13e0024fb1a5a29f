"""What an alignment mode is: a named source of metric evidence for one frame.

A mode declares what it needs (a LiDAR cloud, the camera intrinsics, a transform) so the node knows
what to subscribe and wait for, and turns one frame's inputs into sparse metric samples for the
robust fit, a fixed scale and shift, or the reason it has none.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from depthmaster_ros.config import AlignmentSettings

if TYPE_CHECKING:
    from depthmaster_ros.geometry import CameraModel, StampedCloud, TransformLookup


@dataclass(frozen=True)
class SampleRequest:
    """One frame's inputs, as a mode sees them."""
    stamp_ns: int
    frame_id: str                         # the camera optical frame
    camera: 'CameraModel | None'          # intrinsics at the size of the relative map, or None
    cloud: 'StampedCloud | None'
    cloud_miss_reason: str                # why the adapter found no cloud (for the record)
    transforms: 'TransformLookup | None'  # None when use_tf is off or there is no TF
    settings: AlignmentSettings
    relative: np.ndarray | None = None    # the relative map the samples will be fitted to (HxW)
    space: str = ''                       # its space (alignment/spaces.py Space)


@dataclass(frozen=True)
class SparseSamples:
    """Metric depth at some pixels of the relative map (NaN elsewhere): fitted robustly."""
    depth: np.ndarray
    floor_share: float = float('nan')     # ground plane: share of the plane's pixels kept as floor
    pixels: np.ndarray | None = None      # ascending flat indices of the samples, when the mode knows them
                                          # (the fit and the confidence then skip scanning the image)
    fit_start: tuple[float, float] | None = None    # a consensus line (scale, shift) the mode chose the samples by:
                                                    # the robust fit starts there (robust_start.robust_line)


@dataclass(frozen=True)
class FixedFit:
    """A scale and shift known in advance: applied as they are, no fit."""
    scale: float
    shift: float


@dataclass(frozen=True)
class NoSamples:
    """No metric evidence for this frame, and why (goes into the record and the frame's warnings)."""
    reason: str


ModeOutcome = SparseSamples | FixedFit | NoSamples


class AlignmentMode(ABC):
    """One way of making metres; `depthmaster_ros.alignment.modes.register` names it and sets its needs."""
    name: ClassVar[str] = ''
    description: ClassVar[str] = ''
    needs_cloud: ClassVar[bool] = False     # subscribe to `points` and pair a cloud with each image
    needs_camera: ClassVar[bool] = True     # wait for camera_info before processing
    needs_transforms: ClassVar[bool] = False  # looks frames up in /tf (or a fallback parameter)
    metric: ClassVar[bool] = True           # False: relative depth only, by choice

    @abstractmethod
    def samples(self, request: SampleRequest) -> ModeOutcome:
        """The metric evidence of one frame."""
