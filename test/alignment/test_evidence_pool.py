"""Scale evidence pooled over frames: weak frames borrow, wrong ones never do, old evidence says less."""
import numpy as np
import pytest

from depthmaster_ros.alignment import DRIFT_PER_S, EvidencePool, fit_verdict, weak_evidence


def test_a_weak_frame_that_agrees_is_narrowed_by_the_pool():
    pool = EvidencePool()
    pool.add(0.0, 'sqrt_disparity', scale=2.0, shift=0.3, uncertainty=0.04)
    lent = pool.lend(0.1, 'sqrt_disparity', scale=2.1, shift=0.3, uncertainty=0.15)
    assert lent is not None
    assert lent.uncertainty < 0.04 and lent.uncertainty > 0.03         # not tighter than both together
    assert 2.0 < np.exp(lent.log_scale) < 2.02                         # the pool weighs ~14x more


def test_a_weak_frame_that_disagrees_stays_refused():
    pool = EvidencePool()
    pool.add(0.0, 'sqrt_disparity', scale=2.0, shift=0.3, uncertainty=0.04)
    assert pool.lend(0.1, 'sqrt_disparity', scale=2.6, shift=0.3, uncertainty=0.15) is None


def test_pooled_evidence_loses_weight_with_age():
    pool = EvidencePool()
    pool.add(0.0, 'sqrt_disparity', scale=2.0, shift=0.3, uncertainty=0.03)
    fresh, old = pool.at(0.0, 'sqrt_disparity'), pool.at(2.0, 'sqrt_disparity')
    assert fresh.uncertainty == pytest.approx(0.03)
    assert old.uncertainty == pytest.approx(np.hypot(0.03, 2.0 * DRIFT_PER_S))
    assert pool.at(2.0, 'depth') is None                               # another space is other evidence


def test_agreeing_frames_tighten_the_pool_and_a_changed_scene_restarts_it():
    pool = EvidencePool()
    pool.add(0.0, 'sqrt_disparity', scale=2.0, shift=0.3, uncertainty=0.05)
    pool.add(0.1, 'sqrt_disparity', scale=2.02, shift=0.3, uncertainty=0.05)
    assert pool.at(0.1, 'sqrt_disparity').uncertainty < 0.04
    pool.add(0.2, 'sqrt_disparity', scale=3.0, shift=0.1, uncertainty=0.05)
    restarted = pool.at(0.2, 'sqrt_disparity')
    assert np.exp(restarted.log_scale) == pytest.approx(3.0) and restarted.uncertainty == pytest.approx(0.05)


def test_an_empty_pool_lends_nothing():
    assert EvidencePool().lend(0.0, 'sqrt_disparity', 2.0, 0.3, 0.15) is None


def test_only_refusals_for_weak_evidence_may_borrow():
    def reason(**changes):
        values = dict(space='sqrt_disparity', count=100, min_needed=20, scale=2.0, shift=0.3, num_inliers=90,
                      uncertainty=0.05, max_scale_uncertainty=0.1)
        values.update(changes)
        return fit_verdict(**values)
    assert weak_evidence(reason(uncertainty=0.2))
    assert weak_evidence(reason(support_r2=0.5))
    assert not weak_evidence(reason(num_inliers=30))                  # most samples disagree: wrong, not weak
    assert not weak_evidence(reason(breakdown=3.0))
    assert not weak_evidence(reason(scale=-1.0))
