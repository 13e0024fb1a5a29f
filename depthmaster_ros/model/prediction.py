"""What an estimator returns: a relative map at input resolution, labelled with its space.

Kept free of torch so that alignment and message code can import it cheaply.
"""
from dataclasses import dataclass, field

import numpy as np

# Affine-invariant sqrt(1/depth), 1 = near (DepthMaster).
SPACE_SQRT_DISPARITY = 'sqrt_disparity'
# Affine-invariant depth, 0 = near (Marigold).
SPACE_DEPTH = 'depth'
# Affine-invariant 1/depth (no backend here yet; named so alignment can accept it).
SPACE_DISPARITY = 'disparity'
SPACES = (SPACE_SQRT_DISPARITY, SPACE_DEPTH, SPACE_DISPARITY)

# Stage names of Prediction.timings, in pipeline order.
STAGES = ('preprocess', 'vae_encode', 'unet', 'vae_decode', 'postprocess')
# The only key of Prediction.timings when per-stage timing is off (estimator option `timing=False`).
TOTAL = 'total'


@dataclass
class Prediction:
    """One frame's relative map; `space` tells alignment how to read `relative`."""

    relative: np.ndarray
    space: str
    confidence: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f'space: {self.space!r} is not one of {SPACES}')
        if not isinstance(self.relative, np.ndarray) or self.relative.ndim != 2:
            raise ValueError('relative: expected a 2-D numpy array')
        if self.confidence is not None and self.confidence.shape != self.relative.shape:
            raise ValueError(
                f'confidence: shape {self.confidence.shape} differs from relative {self.relative.shape}')
