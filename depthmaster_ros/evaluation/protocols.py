"""The zero-shot protocol: each relative prediction is fitted to its own ground truth, then scored.

Per image, plain least squares finds s, t with s * pred + t ~ f(gt) in the protocol's space f, on the
pixels of the evaluation mask (for the disparity spaces only where the ground truth and the
prediction are positive, since neither can be inverted elsewhere). The fitted map is taken back to
depth the way the published evaluation code does it: in a disparity space it is squared (sqrt
disparity), clipped to at least 1e-3 and inverted; then it is clipped to the dataset's depth range
and to at least 1e-6, so every pixel of the mask gets a finite positive depth and counts.

The fit is applied to the prediction's values whatever space the model predicts in, as the published
scripts do: `least_square` on a sqrt-disparity map is a comparison of protocols, not an error.
"""
import numpy as np

from depthmaster_ros.alignment import Space, least_squares_scale_shift, to_space

from .errors import EvaluationError

# protocol name (as the published scripts spell it) -> the space its fit works in
PROTOCOLS = {
    'least_square_sqrt_disp': Space.SQRT_DISPARITY,
    'least_square_disparity': Space.DISPARITY,
    'least_square': Space.DEPTH,
}
MIN_DISPARITY = 1e-3
MIN_EVALUATED_DEPTH = 1e-6


def protocol_for_space(space: str) -> str:
    """The protocol that fits in a prediction's own space (DepthMaster: sqrt disparity, Marigold: depth)."""
    for name, protocol_space in PROTOCOLS.items():
        if protocol_space == space:
            return name
    raise EvaluationError(f'space: expected one of {[str(s) for s in PROTOCOLS.values()]}, got {space!r}')


def fit_mask(pred: np.ndarray, gt_m: np.ndarray, mask: np.ndarray, protocol: str) -> np.ndarray:
    """The pixels the fit uses: the evaluation mask, positive ground truth and prediction in a disparity space."""
    with np.errstate(invalid='ignore'):
        usable = mask & np.isfinite(pred)
        if PROTOCOLS[protocol] != Space.DEPTH:
            usable &= (gt_m > 0) & (pred > 0)
    return usable


def align_to_ground_truth(pred: np.ndarray, gt_m: np.ndarray, mask: np.ndarray, protocol: str, min_depth: float,
                          max_depth: float) -> tuple[np.ndarray, float, float]:
    """(depth in metres for every pixel, scale, shift) of one image under `protocol`."""
    if protocol not in PROTOCOLS:
        raise EvaluationError(f'alignment: expected one of {tuple(PROTOCOLS)}, got {protocol!r}')
    if pred.shape != gt_m.shape:
        raise EvaluationError(f'prediction: shape {pred.shape} differs from ground truth {gt_m.shape}')
    space = PROTOCOLS[protocol]
    usable = fit_mask(pred, gt_m, mask, protocol)
    if usable.sum() < 2:
        raise EvaluationError(f'alignment: {int(usable.sum())} usable pixels, the fit needs two')
    values = pred.astype(np.float64)
    scale, shift = least_squares_scale_shift(values[usable], to_space(gt_m[usable], space))
    fitted = scale * values + shift
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        if space == Space.SQRT_DISPARITY:
            depth = 1.0 / np.maximum(fitted * fitted, MIN_DISPARITY)
        elif space == Space.DISPARITY:
            depth = 1.0 / np.maximum(fitted, MIN_DISPARITY)
        else:
            depth = fitted
    depth = np.clip(np.nan_to_num(depth, nan=min_depth), min_depth, max_depth)
    return np.maximum(depth, MIN_EVALUATED_DEPTH), scale, shift
