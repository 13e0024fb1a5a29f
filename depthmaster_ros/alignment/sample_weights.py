"""How much each sample counts: more where samples are sparse, so crowded regions do not own the line.

The fit should place the line where a fit over the image would (the image is what is published), but
sensors sample the image unevenly: a LiDAR's returns crowd along its scan lines and near the car, the
occlusion filter and the image edges leave gaps. Where a model's error is not affine, the crowded part
pulls the line towards its own error. Each sample is weighted by the inverse square root of the number
of samples in its cell of a DENSITY_GRID x DENSITY_GRID split of the image: halfway (in the exponent)
between counting every sample alike (the most precise line when the error is affine) and counting every
region alike (the line of the image, but as noisy as its sparsest region). The weights only choose
which part of the image the published line is fitted to: the inliers are found without them (a lone
sample's error must not steer which samples are trusted), and the errors-in-variables line and its
jackknife (uncertainty.py) stay unbiased for noise in the prediction.

Cost: one bincount over the samples.
"""
import numpy as np

DENSITY_GRID = 8
DENSITY_EXPONENT = 0.5


def representative_weights(index: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Weights (mean 1) of the samples at these flat pixel indices of an HxW image (see the module notes)."""
    if not len(index):
        return np.ones(0)
    height, width = shape
    cell = (index // width * DENSITY_GRID // height) * DENSITY_GRID + (index % width) * DENSITY_GRID // width
    weights = np.bincount(cell)[cell] ** -DENSITY_EXPONENT
    result: np.ndarray = weights * (len(weights) / weights.sum())
    return result
