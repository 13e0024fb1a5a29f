"""The per-frame alignment record: one plain dataclass, field for field the DepthAlignment message.

The node publishes it on depth/alignment and the bag tool writes it to the output bag; both convert
this record, so the message definition (msg/DepthAlignment.msg) and this class must stay in step
(a test checks that).
"""
from dataclasses import asdict, dataclass
from typing import Any


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
    rmse_m: float = float('nan')
    scale_uncertainty: float = float('inf')   # bound on the relative metric depth error of the fit
    method: str = 'global'        # global | local (alignment_method)
    floor_share: float = float('nan')         # ground_plane: share of floor pixels used as samples
    extrinsic_pitch_deg: float = float('nan') # estimated LiDAR-camera pitch error, degrees; NaN: none
    extrinsic_yaw_deg: float = float('nan')   # estimated LiDAR-camera yaw error, degrees; NaN: none
    fit_age_s: float = 0.0
    inference_time_s: float = 0.0
    alignment_time_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
