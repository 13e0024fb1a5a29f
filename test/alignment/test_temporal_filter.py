"""TemporalAlignmentFilter: smoothing, gating of jumps, hold-over and an honest give-up."""
from dataclasses import replace

import numpy as np
import pytest

from depthmaster_ros.alignment import AlignmentRecord, TemporalAlignmentFilter, evidence_pool


def fit(scale, shift=0.1, ok=True, reason=''):
    return AlignmentRecord(ok=ok, reason=reason, scale=scale, shift=shift, num_points=300, num_inliers=280,
                           rmse_m=0.1, space='sqrt_disparity')


def test_smoothing_averages_log_scale_and_shift():
    filt = TemporalAlignmentFilter(smoothing=0.5)
    first = filt.update(0.0, fit(2.0, 0.0))
    assert first.ok and not first.held and first.scale == pytest.approx(2.0)
    second = filt.update(0.1, fit(3.0, 0.2))
    assert second.scale == pytest.approx(np.sqrt(6.0))      # geometric mean: log-space average
    assert second.shift == pytest.approx(0.1)
    assert second.num_points == 300 and second.space == 'sqrt_disparity'


def test_zero_smoothing_passes_fits_through():
    filt = TemporalAlignmentFilter(smoothing=0.0)
    filt.update(0.0, fit(2.0))
    assert filt.update(0.1, fit(2.9, 0.3)).scale == pytest.approx(2.9)


def test_a_single_jump_is_gated_but_a_persistent_one_reinitialises():
    filt = TemporalAlignmentFilter(smoothing=0.5, gate_rel=0.5, gate_persist_frames=3)
    filt.update(0.0, fit(2.0))
    gated = filt.update(0.1, fit(5.0))
    assert gated.ok and gated.held and 'gated' in gated.reason
    assert gated.scale == pytest.approx(2.0)
    assert filt.update(0.2, fit(2.1)).scale == pytest.approx(np.sqrt(2.0 * 2.1))   # back to normal
    filt.update(0.3, fit(5.0))
    filt.update(0.4, fit(5.0))
    third = filt.update(0.5, fit(5.0))
    assert third.ok and not third.held and third.scale == pytest.approx(5.0)


def test_hold_then_no_alignment():
    filt = TemporalAlignmentFilter(hold_s=1.0)
    filt.update(10.0, fit(2.0))
    held = filt.update(10.6, fit(np.nan, ok=False, reason='too few points: 3 < 20'))
    assert held.ok and held.held and held.fit_age_s == pytest.approx(0.6)
    assert held.scale == pytest.approx(2.0) and 'too few points' in held.reason
    gone = filt.update(11.5, fit(np.nan, ok=False, reason='too few points: 0 < 20'))
    assert not gone.ok and not gone.held
    assert gone.reason.startswith('no alignment: last good fit is 1.50 s old')
    back = filt.update(11.6, fit(2.2))
    assert back.ok and not back.held and back.fit_age_s == 0.0


def test_no_fit_yet_is_not_ok():
    filt = TemporalAlignmentFilter()
    result = filt.update(0.0, fit(np.nan, ok=False, reason='no LiDAR'))
    assert not result.ok and 'no good fit yet' in result.reason and 'no LiDAR' in result.reason


def test_time_going_backwards_resets():
    filt = TemporalAlignmentFilter(smoothing=0.9)
    filt.update(100.0, fit(2.0))
    filt.update(100.1, fit(2.2))
    after_loop = filt.update(5.0, fit(4.0))     # a bag restarted: the old fit must not leak in
    assert after_loop.scale == pytest.approx(4.0) and not after_loop.held


@pytest.mark.parametrize('kwargs, field', [(dict(smoothing=1.0), 'smoothing'), (dict(hold_s=-1), 'hold_s'),
                                           (dict(gate_rel=0), 'gate_rel')])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TemporalAlignmentFilter(**kwargs)


def weak(scale, uncertainty, shift=0.1):
    return AlignmentRecord(ok=False, reason=f'scale poorly constrained (+-{uncertainty:.0%}): ...', scale=scale,
                           shift=shift, num_points=300, num_inliers=280, space='sqrt_disparity',
                           scale_uncertainty=uncertainty)


def good(scale, uncertainty=0.04, shift=0.1):
    return replace(fit(scale, shift), scale_uncertainty=uncertainty)


def test_a_weak_fit_that_agrees_with_recent_fits_is_published_pooled():
    filt = TemporalAlignmentFilter(smoothing=0.0, hold_s=1.0)
    filt.update(0.0, good(2.0))
    pooled = filt.update(0.1, weak(2.1, 0.15))
    assert pooled.ok and not pooled.held and pooled.reason.startswith('pooled with fits up to 0.10 s old')
    assert 0.03 < pooled.scale_uncertainty < 0.04                 # narrower than either, as wide as honest
    assert 2.0 < pooled.scale < 2.02


def test_a_weak_fit_that_disagrees_is_not_pooled_and_a_wrong_one_never():
    filt = TemporalAlignmentFilter(smoothing=0.0, hold_s=1.0)
    filt.update(0.0, good(2.0))
    disagreeing = filt.update(0.1, weak(3.0, 0.15))
    assert disagreeing.held and not disagreeing.reason.startswith('pooled')
    wrong = replace(weak(2.0, 0.05), reason='low inlier share: 100 of 300 samples agree with the fit')
    assert not filt.update(0.2, wrong).reason.startswith('pooled')


def test_without_recent_evidence_a_weak_fit_stays_refused():
    filt = TemporalAlignmentFilter(smoothing=0.0, hold_s=1.0)
    first = filt.update(0.0, weak(2.0, 0.15))
    assert not first.ok and 'no good fit yet' in first.reason
    filt.update(0.1, good(2.0, 0.09))
    # three seconds later the pooled 9 % has grown past what a 15 % frame can be narrowed to within 10 %
    assert not filt.update(3.1, weak(2.0, 0.15)).ok


def test_a_held_fit_says_its_evidence_has_aged():
    filt = TemporalAlignmentFilter(smoothing=0.0, hold_s=1.0)
    filt.update(0.0, good(2.0, 0.03))
    held = filt.update(0.8, AlignmentRecord(ok=False, reason='no point cloud received', space='sqrt_disparity'))
    assert held.ok and held.held
    assert held.scale_uncertainty == pytest.approx(np.hypot(0.03, 0.8 * evidence_pool.DRIFT_PER_S))
