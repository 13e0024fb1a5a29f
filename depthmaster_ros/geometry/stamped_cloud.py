"""A point cloud with the frame and stamp it was measured in: what alignment needs of a LiDAR message."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StampedCloud:
    points: np.ndarray       # (N, 3) float32 in the cloud's own frame
    frame_id: str
    stamp_ns: int
