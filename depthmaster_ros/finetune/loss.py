"""The training loss: per-image scale-and-shift-invariant error in square-root disparity, plus preservation.

For each image the prediction (unit sqrt-disparity after the frozen decoder) at the LiDAR samples is
mapped onto the samples' sqrt(1/depth) by a least-squares scale and shift. Which samples count is the
node's own outlier rule (`alignment.robust_start.robust_line`: least median of squares, then Tukey
IRLS), run on the detached prediction; the line through those inliers is then the closed-form
least-squares solution *with* the gradient flowing through it (no iteration to differentiate). The
residuals, divided by the image's median target (so the loss does not depend on the scene's metric
scale), go through Huber (delta HUBER_DELTA) or L1.

Preservation: where no sample lies within PRESERVE_REACH of a pixel (the sky, the far field, above the
top beam), the prediction, aligned to the frozen base model's by its own closed-form line, should stay
the base's: L1, weight PRESERVE_WEIGHT (0.1: one tenth of a typical fit error, enough to stop drift in
regions the LiDAR never sees while leaving the supported pixels free). The dense oracle is the same
loss with the dense ground truth as samples.
"""
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from depthmaster_ros.alignment import robust_line, spread_and_median

from .errors import FinetuneError

LOSS_KINDS = ('huber', 'l1')
HUBER_DELTA = 0.05           # relative sqrt-disparity error where Huber turns from quadratic to linear
PRESERVE_WEIGHT = 0.1
PRESERVE_REACH = 1 / 16      # of the image's long side: a sample supports the pixels this near to it
MIN_POINTS = 20              # the node's default: fewer samples give no fit, so the image adds no fit loss


@dataclass(frozen=True)
class LossSettings:
    kind: str = 'huber'
    huber_delta: float = HUBER_DELTA
    preserve_weight: float = PRESERVE_WEIGHT
    min_points: int = MIN_POINTS
    min_depth: float = 0.1
    max_depth: float = 100.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in LOSS_KINDS:
            raise FinetuneError(f'loss: expected one of {LOSS_KINDS}, got {self.kind!r}')
        if not (self.huber_delta > 0 and self.preserve_weight >= 0 and self.min_points >= 2
                and 0 <= self.min_depth < self.max_depth):
            raise FinetuneError(f'loss settings out of range: {self}')


@dataclass
class LossTerms:
    total: torch.Tensor
    fit: float
    preserve: float
    fitted_images: int
    inlier_share: float


def affine_fit(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form least-squares (scale, shift) with scale * pred + shift ~ target, differentiable in pred."""
    pred_mean, target_mean = pred.mean(), target.mean()
    centred = pred - pred_mean
    scale = (centred * (target - target_mean)).sum() / ((centred * centred).sum() + 1e-12)
    return scale, target_mean - scale * pred_mean


def sample_inliers(pred: np.ndarray, target: np.ndarray, seed: int) -> np.ndarray | None:
    """The alignment's inlier mask, or None when its line has no positive scale (a prediction the wrong way round)."""
    spread, _ = spread_and_median(target)
    scale, shift, inliers = robust_line(pred, target, np.random.default_rng(seed), spread)
    if not (np.isfinite(scale) and np.isfinite(shift) and scale > 0):
        return None
    return inliers


def support_mask(samples: torch.Tensor) -> torch.Tensor:
    """bool [B,h,w]: pixels with a sample within PRESERVE_REACH of the long side (a square window)."""
    reach = max(1, round(PRESERVE_REACH * max(samples.shape[-2:])))
    window = 2 * reach + 1
    pooled = F.max_pool2d(samples[:, None].float(), window, stride=1, padding=reach)
    return pooled[:, 0] > 0


def _robust(residual: torch.Tensor, settings: LossSettings) -> torch.Tensor:
    if settings.kind == 'l1':
        return residual.abs().mean()
    return F.huber_loss(residual, torch.zeros_like(residual), delta=settings.huber_delta)


def moment_fit(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) matching the mean and spread of pred to the target's: the scale is positive by construction."""
    scale = target.std() / (pred.std() + 1e-12)
    return scale, target.mean() - scale * pred.mean()


def fit_loss(pred: torch.Tensor, depth_m: torch.Tensor, settings: LossSettings) -> tuple[torch.Tensor, float] | None:
    """One image's robust scale-and-shift-invariant loss against its samples (NaN where none); None if no fit.

    A prediction the wrong way round (no line with a positive scale: a randomly initialised model, or
    one that has drifted) gets the moment fit on every sample instead: a least-squares line would
    flip its sign and reward the prediction for staying inverted.
    """
    usable = torch.isfinite(depth_m) & (depth_m > settings.min_depth) & (depth_m < settings.max_depth)
    if int(usable.sum()) < settings.min_points:
        return None
    values = pred[usable]
    target = torch.rsqrt(depth_m[usable].double()).to(values.dtype)
    inliers = sample_inliers(values.detach().double().cpu().numpy(), target.double().cpu().numpy(), settings.seed)
    if inliers is None:
        scale, shift = moment_fit(values, target)
        share = 1.0
    else:
        if int(inliers.sum()) < settings.min_points:
            return None
        keep = torch.from_numpy(inliers).to(values.device)
        values, target = values[keep], target[keep]
        scale, shift = affine_fit(values, target)
        share = float(inliers.mean())
        if not float(scale.detach()) > 0:          # the inliers' own line can still come out flat or inverted
            scale, shift = moment_fit(values, target)
    residual = (scale * values + shift - target) / target.median()
    return _robust(residual, settings), share


def preserve_loss(pred: torch.Tensor, base: torch.Tensor, region: torch.Tensor, min_points: int) -> torch.Tensor | None:
    """L1 between the prediction aligned to the base and the base, on `region`; None for too few pixels."""
    region = region & torch.isfinite(base)
    if int(region.sum()) < min_points:
        return None
    values, reference = pred[region], base[region]
    scale, shift = affine_fit(values, reference)
    return (scale * values + shift - reference).abs().mean()


def depth_loss(pred: torch.Tensor, depth_m: torch.Tensor, base: torch.Tensor | None,
               settings: LossSettings = LossSettings()) -> LossTerms:
    """The batch's loss: pred [B,h,w] unit sqrt-disparity, depth_m [B,h,w] metres (NaN: no sample),
    base [B,h,w] the frozen model's prediction (None: no preservation term). Mean over the images."""
    if pred.shape != depth_m.shape or (base is not None and base.shape != pred.shape):
        raise FinetuneError(f'loss: shapes differ: pred {tuple(pred.shape)}, depth {tuple(depth_m.shape)}, '
                            f'base {None if base is None else tuple(base.shape)}')
    depth_m = depth_m.to(pred.device)
    supported = support_mask(torch.isfinite(depth_m))
    total = pred.sum() * 0.0          # keeps every parameter in the graph when no image fits (DDP needs it)
    fits, preserves, shares = [], [], []
    for index in range(len(pred)):
        fitted = fit_loss(pred[index], depth_m[index], settings)
        if fitted is not None:
            fits.append(fitted[0])
            shares.append(fitted[1])
        if base is not None and settings.preserve_weight > 0:
            kept = preserve_loss(pred[index], base[index].to(pred.device), ~supported[index], settings.min_points)
            if kept is not None:
                preserves.append(kept)
    count = len(pred)
    fit_value = torch.stack(fits).sum() / count if fits else total
    preserve_value = torch.stack(preserves).sum() / count if preserves else total
    total = total + fit_value + settings.preserve_weight * preserve_value
    return LossTerms(total=total, fit=float(fit_value.detach()), preserve=float(preserve_value.detach()),
                     fitted_images=len(fits), inlier_share=float(np.mean(shares)) if shares else float('nan'))
