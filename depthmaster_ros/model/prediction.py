"""What an estimator returns: a relative map at input resolution, labelled with its space.

Kept free of torch so that alignment and message code can import it cheaply.
"""
from dataclasses import dataclass, field

import numpy as np

from depthmaster_ros.alignment import Space, check_space

from .errors import ModelError

# Stage names of Prediction.timings, in pipeline order.
STAGES = ('preprocess', 'vae_encode', 'unet', 'vae_decode', 'postprocess')
# The only key of Prediction.timings when per-stage timing is off (estimator option `timing=False`).
TOTAL = 'total'


@dataclass
class Prediction:
    """One frame's relative map; `space` tells alignment how to read `relative`."""

    relative: np.ndarray
    space: Space              # a Space or its string; kept as the Space
    confidence: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.space = check_space(self.space)
        if not isinstance(self.relative, np.ndarray) or self.relative.ndim != 2:
            raise ModelError('relative: expected a 2-D numpy array')
        if self.confidence is not None and self.confidence.shape != self.relative.shape:
            raise ModelError(
                f'confidence: shape {self.confidence.shape} differs from relative {self.relative.shape}')
