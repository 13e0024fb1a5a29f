"""Scale evidence pooled over recent frames: a frame that sees little floor borrows the last frames'.

With a fixed mount the true scale changes slowly, so a frame whose own fit is only weakly constrained
(its uncertainty too wide to publish, its depth support too narrow: verdicts.weak_evidence) can be
combined with what the recent frames found. The pool holds one estimate: log scale, shift and the
scale uncertainty (relative depth, as the fit publishes it). Its uncertainty grows with its age by
DRIFT_PER_S (in quadrature): evidence a second old says less than evidence from the last frame.

A frame and the pool are combined by inverse-variance weights, and only when they agree within the sum
of their uncertainties. A fit refused for a reason that says it is wrong (most samples disagree, the
robust start broke down, a sensor offset) is never combined, and a weak fit that disagrees with the
pool stays refused: pooling can only narrow the uncertainty of fits that agree, never make a wrong one
right. Only frames publishable on their own feed the pool.
"""
from dataclasses import dataclass

import numpy as np

# How fast pooled evidence loses weight: the relative scale error it may have gathered per second of age.
DRIFT_PER_S = 0.05


@dataclass(frozen=True)
class PooledScale:
    log_scale: float
    shift: float
    uncertainty: float          # relative metric depth, as scale_uncertainty
    stamp_s: float              # when the newest evidence in it was seen

    def aged(self, stamp_s: float) -> 'PooledScale':
        """The same evidence seen from stamp_s: its uncertainty grown with the age."""
        age = max(stamp_s - self.stamp_s, 0.0)
        return PooledScale(self.log_scale, self.shift, float(np.hypot(self.uncertainty, DRIFT_PER_S * age)),
                           self.stamp_s)

    def agrees(self, log_scale: float, uncertainty: float) -> bool:
        return abs(log_scale - self.log_scale) <= uncertainty + self.uncertainty


def combined(pool: PooledScale, log_scale: float, shift: float, uncertainty: float, stamp_s: float) -> PooledScale:
    """Inverse-variance combination of the (aged) pool with one frame's line, stamped now."""
    w_pool, w_frame = pool.uncertainty ** -2, uncertainty ** -2
    total = w_pool + w_frame
    return PooledScale((w_pool * pool.log_scale + w_frame * log_scale) / total,
                       (w_pool * pool.shift + w_frame * shift) / total, float(total ** -0.5), stamp_s)


class EvidencePool:
    """The pooled scale of the recent publishable frames (module notes).

    Only frames publishable on their own feed the pool (a weak frame's errors are not independent of the
    next weak frame's: pooling them would shrink the uncertainty below what they show); a weak frame
    borrows from it.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._pool: PooledScale | None = None
        self._space = ''

    def at(self, stamp_s: float, space: str) -> PooledScale | None:
        """The pool aged to stamp_s, or None when it is empty or of another space."""
        if self._pool is None or space != self._space:
            return None
        return self._pool.aged(stamp_s)

    def add(self, stamp_s: float, space: str, scale: float, shift: float, uncertainty: float) -> None:
        """Pool a publishable frame's line; one that disagrees with the pool starts it anew (the scene changed)."""
        if not _usable(scale, shift, uncertainty):
            return
        log_scale = float(np.log(scale))
        pool = self.at(stamp_s, space)
        if pool is None or not pool.agrees(log_scale, uncertainty):
            self._pool, self._space = PooledScale(log_scale, float(shift), float(uncertainty), stamp_s), space
        else:
            self._pool = combined(pool, log_scale, shift, uncertainty, stamp_s)

    def lend(self, stamp_s: float, space: str, scale: float, shift: float, uncertainty: float) -> PooledScale | None:
        """A weak frame's line combined with the pool, or None when there is no pool or they disagree."""
        pool = self.at(stamp_s, space)
        if pool is None or not _usable(scale, shift, uncertainty):
            return None
        log_scale = float(np.log(scale))
        if not pool.agrees(log_scale, uncertainty):
            return None
        return combined(pool, log_scale, shift, uncertainty, stamp_s)


def _usable(scale: float, shift: float, uncertainty: float) -> bool:
    return bool(scale > 0 and np.isfinite(scale) and np.isfinite(shift) and np.isfinite(uncertainty)
                and uncertainty > 0)
