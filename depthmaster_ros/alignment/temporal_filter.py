"""Smooth the per-frame scale/shift fit over time and bridge short sensor dropouts.

Per frame the fit jitters with the LiDAR sampling and a single bad frame (a passing person, a
reflection) can be far off; the depth a robot sees should not flicker with it. The filter:

- smooths log(scale) and shift exponentially: filtered = smoothing * filtered + (1 - smoothing) * new
  (smoothing 0 passes every fit through);
- gates jumps: an ok fit whose scale differs by more than gate_rel (relative) from the filtered scale
  is rejected and the filtered fit is applied instead (held), unless such jumps persist for
  gate_persist_frames consecutive frames, in which case the scene really changed and the filter
  re-initialises on the newest fit;
- holds the last good fit for hold_s seconds when the incoming fit is not ok (LiDAR dropout, too
  few points), reporting held=True and its age, then reports ok=False with the reason
  "no alignment: last good fit is X s old" rather than inventing metres;
- pools the scale evidence of the recent publishable fits (evidence_pool.py): a fit refused only for
  weak evidence (verdicts.weak_evidence: a frame that sees little floor) that agrees with the pool is
  published combined with it, `reason` "pooled: ..."; a held fit publishes the pool's uncertainty,
  grown with its age. Pooling never accepts a fit refused for being wrong, nor one that disagrees.

Time: stamps are seconds of the image. A stamp earlier than the previous one (bag loop, simulation
reset) resets the filter before the frame is used; an equal stamp is processed with zero age.
"""
from dataclasses import replace

import numpy as np

from .errors import AlignmentError
from .evidence_pool import EvidencePool, PooledScale
from .record import AlignmentRecord
from .verdicts import MAX_SCALE_UNCERTAINTY, weak_evidence


class TemporalAlignmentFilter:
    def __init__(self, smoothing: float = 0.5, hold_s: float = 1.0, gate_rel: float = 0.5,
                 gate_persist_frames: int = 3):
        if not 0.0 <= smoothing < 1.0:
            raise AlignmentError(f'smoothing: must be in [0, 1), got {smoothing}')
        if not hold_s >= 0:
            raise AlignmentError(f'hold_s: must be >= 0, got {hold_s}')
        if not gate_rel > 0:
            raise AlignmentError(f'gate_rel: must be positive, got {gate_rel}')
        if int(gate_persist_frames) < 1:
            raise AlignmentError(f'gate_persist_frames: must be >= 1, got {gate_persist_frames}')
        self.smoothing = float(smoothing)
        self.hold_s = float(hold_s)
        self.gate_rel = float(gate_rel)
        self.gate_persist_frames = int(gate_persist_frames)
        self.reset()

    def reset(self) -> None:
        self._log_scale: float | None = None
        self._shift: float | None = None
        self._space = ''
        self._last_good: AlignmentRecord | None = None          # the fit last accepted
        self._last_good_stamp: float | None = None
        self._last_stamp: float | None = None
        self._gated_in_a_row = 0
        self._pool = EvidencePool()

    @property
    def has_fit(self) -> bool:
        return self._log_scale is not None

    def _initialise(self, stamp_s: float, result: AlignmentRecord) -> None:
        self._log_scale = float(np.log(result.scale))
        self._shift = float(result.shift)
        self._space = result.space
        self._gated_in_a_row = 0
        self._accept(stamp_s, result)

    def _accept(self, stamp_s: float, result: AlignmentRecord, pooled: bool = False) -> None:
        self._last_good = result
        self._last_good_stamp = stamp_s
        if not pooled:          # only fits publishable on their own feed the pool (evidence_pool.py)
            self._pool.add(stamp_s, result.space, result.scale, result.shift, result.scale_uncertainty)

    def _applied(self, result: AlignmentRecord, held: bool, reason: str, age: float) -> AlignmentRecord:
        """This frame's fit (or, held, the last good one) with the filtered line; a held fit has no local maps."""
        base = self._last_good if held else result
        assert base is not None and self._log_scale is not None and self._shift is not None   # set by the first fit
        return replace(base, ok=True, reason=reason,
                       scale=float(np.exp(self._log_scale)), shift=self._shift, space=self._space, held=held,
                       fit_age_s=age, local_correction=None if held else result.local_correction)

    @staticmethod
    def _refused(result: AlignmentRecord, reason: str, age: float = 0.0) -> AlignmentRecord:
        """No line to apply: the frame's fit, its line withdrawn and the reason said."""
        return replace(result, ok=False, reason=reason, scale=float('nan'), shift=float('nan'), num_inliers=0,
                       rmse_m=float('nan'), held=False, fit_age_s=age, local_correction=None)

    def _hold_or_give_up(self, stamp_s: float, result: AlignmentRecord, why: str) -> AlignmentRecord:
        if not self.has_fit:
            return self._refused(result, f'no alignment: no good fit yet ({why})')
        assert self._last_good_stamp is not None                     # has_fit
        age = stamp_s - self._last_good_stamp
        if age <= self.hold_s:
            held = self._applied(result, True, f'held: {why}', age)
            pool = self._pool.at(stamp_s, held.space)
            return held if pool is None else replace(held, scale_uncertainty=max(held.scale_uncertainty,
                                                                                 pool.uncertainty))
        return self._refused(result, f'no alignment: last good fit is {age:.2f} s old ({why})', age)

    def update(self, stamp_s: float, result: AlignmentRecord) -> AlignmentRecord:
        """The fit to apply to the image at stamp_s, given this frame's raw fit: a copy of it (or of the last
        good one, held) with the filtered scale and shift, `held` and `fit_age_s`."""
        stamp_s = float(stamp_s)
        if not np.isfinite(stamp_s):
            raise AlignmentError(f'stamp_s: must be finite, got {stamp_s}')
        if self._last_stamp is not None and stamp_s < self._last_stamp:
            self.reset()
        self._last_stamp = stamp_s
        pooled = self._pooled(stamp_s, result)
        if pooled is not None:
            result = pooled
        usable = bool(result.ok) and np.isfinite(result.scale) and result.scale > 0 \
            and np.isfinite(result.shift)
        if not usable:
            return self._hold_or_give_up(stamp_s, result, result.reason or 'fit not ok')
        if not self.has_fit or result.space != self._space:
            self._initialise(stamp_s, result)
            return self._applied(result, False, '', 0.0)
        log_scale, shift = self._log_scale, self._shift
        assert log_scale is not None and shift is not None      # has_fit
        jump = abs(result.scale / np.exp(log_scale) - 1.0)
        if jump > self.gate_rel:
            self._gated_in_a_row += 1
            if self._gated_in_a_row < self.gate_persist_frames:
                return self._hold_or_give_up(
                    stamp_s, result, f'gated: scale jumped by {jump:.0%} '
                                     f'({self._gated_in_a_row}/{self.gate_persist_frames})')
            self._initialise(stamp_s, result)
            return self._applied(result, False, 'reinitialised after a persistent scale change', 0.0)
        self._gated_in_a_row = 0
        a = self.smoothing
        self._log_scale = a * log_scale + (1 - a) * float(np.log(result.scale))
        self._shift = a * shift + (1 - a) * float(result.shift)
        self._accept(stamp_s, result, pooled=pooled is not None)
        return self._applied(result, False, result.reason if pooled is not None else '', 0.0)

    def _pooled(self, stamp_s: float, result: AlignmentRecord) -> AlignmentRecord | None:
        """A fit refused only for weak evidence, combined with the pool when they agree and the combination is
        publishable; None otherwise (the fit goes on as it is)."""
        pool = self._pool.at(stamp_s, result.space)
        if result.ok or pool is None or not weak_evidence(result.reason):
            return None
        lent: PooledScale | None = self._pool.lend(stamp_s, result.space, result.scale, result.shift,
                                                   result.scale_uncertainty)
        if lent is None or not lent.uncertainty <= MAX_SCALE_UNCERTAINTY:
            return None
        age = stamp_s - pool.stamp_s
        return replace(result, ok=True, scale=float(np.exp(lent.log_scale)), shift=lent.shift,
                       scale_uncertainty=lent.uncertainty, local_correction=None,
                       reason=f'pooled with fits up to {age:.2f} s old ({result.reason})')
