"""The one alignment result, from the fit to the published record, field for field the DepthAlignment message.

The fit creates it (fit.py), the temporal filter returns a copy with the fit it applies
(temporal_filter.py) and the pipeline completes it with the frame's mode, model and timings
(`dataclasses.replace`); the node publishes it on depth/alignment and the bag tool writes it. Its
message fields and msg/DepthAlignment.msg stay in step (a test checks); `local_correction` is the
local method's maps, which travel to the pixels but not into the message.
"""
from dataclasses import Field, dataclass, field, fields
from typing import Any

import numpy as np

# Field metadata of what is carried along but not published.
NOT_IN_MESSAGE = {'message': False}


@dataclass
class AlignmentRecord:
    mode: str = 'none'            # lidar | ground_plane | fixed | none
    space: str = ''               # space of the relative prediction: depth | disparity | sqrt_disparity
    backend: str = ''             # depthmaster | marigold
    model: str = ''               # model repo id or directory
    ok: bool = False              # depth/image holds metres from a valid alignment
    held: bool = False            # the applied fit is an earlier one held over a dropout
    reason: str = ''              # why not ok, or why held
    scale: float = float('nan')
    shift: float = float('nan')
    num_points: int = 0
    num_inliers: int = 0
    rmse_m: float = float('nan')  # over the inliers, in metres
    scale_uncertainty: float = float('inf')   # bound on the relative metric depth error of the fit (uncertainty.py)
    method: str = 'global'        # global | local (alignment_method)
    floor_share: float = float('nan')         # ground_plane: share of floor pixels used as samples
    extrinsic_pitch_deg: float = float('nan') # estimated LiDAR-camera pitch error, degrees; NaN: none
    extrinsic_yaw_deg: float = float('nan')   # estimated LiDAR-camera yaw error, degrees; NaN: none
    fit_age_s: float = 0.0
    inference_time_s: float = 0.0
    alignment_time_s: float = 0.0
    # lidar mode with base_frame in TF: the LiDAR metres against the camera height (height_check.HeightCheck;
    # None: not checked); reported on /diagnostics, not in the message
    height_check: Any = field(default=None, compare=False, repr=False, metadata=NOT_IN_MESSAGE)
    # local method: HxW scale and shift maps (None: the line applies everywhere)
    local_correction: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False, repr=False,
                                                                   metadata=NOT_IN_MESSAGE)

    def as_dict(self) -> dict[str, Any]:
        """The message fields and their values, in message order."""
        return {f.name: getattr(self, f.name) for f in message_fields()}

    def scale_shift(self) -> tuple[Any, Any]:
        """What the metres come from: the local correction maps when there are any, else the line."""
        return self.local_correction or (self.scale, self.shift)


def message_fields() -> tuple[Field[Any], ...]:
    """The record's fields that DepthAlignment carries, in message order."""
    return tuple(f for f in fields(AlignmentRecord) if f.metadata.get('message', True))
