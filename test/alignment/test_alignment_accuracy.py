"""The accuracy promises, measured on the synthetic scene (the numbers tools/alignment_report.py prints)."""
import numpy as np
import pytest

from depthmaster_ros.alignment import Space, floor_selection, ground_plane_depth, select_floor
from depthmaster_ros.synthetic import (
    SyntheticScene,
    count_see_through,
    fake_prediction,
    ground_plane_scale_error,
    lidar_alignment_accuracy,
)

TIMES_S = (0.0, 1.5, 3.0)           # floor, boxes and the pole all in view
OCCLUSION_WINDOW = 15               # spans the ~11 px gap between 32-beam scan lines at 640x480
# The oracle is the least-squares line over every pixel; the fit publishes the errors-in-variables
# line (unbiased scale when the prediction is noisy). In depth space this scene's prediction noise is
# additive in metres (up to 10 % of a near pixel's depth), so least squares shrinks its slope by about
# 1 - r^2 = 3-5 %: attenuated towards the image's mean depth, which lowers AbsRel over the image the
# samples represent and is exactly the bias that breaks narrow-band fits. Regressing like the oracle gives
# 1.01-1.03x here; the unbiased line, with the samples weighted by how sparse they lie (sample_weights.py),
# 1.03-1.045x. In the model's own spaces the two agree (<= 1.05x).
ABS_REL_BOUND = {'depth': 1.05, 'disparity': 1.05, 'sqrt_disparity': 1.05}


@pytest.fixture(scope='module')
def noisy_frames():
    scene = SyntheticScene(lidar_range_noise=0.02, lidar_outlier_fraction=0.2)
    return [scene.render(t) for t in TIMES_S]


@pytest.fixture(scope='module')
def clean_frames(scene):
    return [scene.render(t) for t in TIMES_S]


@pytest.mark.parametrize('space', list(Space))
def test_lidar_alignment_is_within_five_percent_of_the_oracle(noisy_frames, space):
    for frame in noisy_frames:
        accuracy = lidar_alignment_accuracy(frame, space, seed=0, occlusion_window=OCCLUSION_WINDOW)
        assert accuracy.result.ok, accuracy.result.reason
        assert 0.002 < accuracy.coverage <= 0.02
        assert accuracy.abs_rel <= ABS_REL_BOUND[space] * accuracy.oracle_abs_rel, (frame.stamp_s, accuracy)


def test_occlusion_filter_removes_see_through_points(clean_frames):
    counts = [count_see_through(frame, OCCLUSION_WINDOW) for frame in clean_frames]
    see_through = sum(c.see_through for c in counts)
    kept = sum(c.kept for c in counts)
    good_removed = sum(c.good_removed for c in counts)
    total = sum(c.total for c in counts)
    assert see_through >= 100                       # the offset LiDAR really sees behind the boxes
    assert kept <= 0.1 * see_through
    assert good_removed <= 0.1 * (total - see_through)


def test_without_the_filter_see_through_points_stay(clean_frames):
    count = count_see_through(clean_frames[0], occlusion_window=1)
    assert count.see_through > 0 and count.kept == count.see_through


@pytest.mark.parametrize('space', list(Space))
def test_ground_plane_recovers_the_scale(clean_frames, space):
    for frame in clean_frames:
        error, result = ground_plane_scale_error(frame, space, seed=0, max_depth=10.0)
        assert 0.3 < result.floor_share < 0.9                  # the boxes' pixels are not used as floor
        # Floor pixels alone span a narrower band of the image's depths than floor and boxes did, so the
        # published uncertainty (judged over the whole image) may exceed the 10 % limit: then the fit is
        # refused for that reason only, and its scale is still checked.
        assert result.ok or result.reason.startswith('scale poorly constrained'), result.reason
        assert abs(error) <= 0.03, (frame.stamp_s, error)
        assert abs(error) <= result.scale_uncertainty, (frame.stamp_s, error, result.scale_uncertainty)


def test_floor_selection_keeps_only_floor_pixels(clean_frames):
    """The relative map marks the floor: no pixel of a box top or a wall is handed to the fit as floor, only
    a few of the boxes' feet, within the band of the floor's line (the robust fit then rejects them)."""
    for frame in clean_frames:
        prediction = fake_prediction(frame.depth, 'sqrt_disparity', np.random.default_rng(0))
        plane = ground_plane_depth(frame.camera, frame.camera_to_base, frame.camera.width, frame.camera.height,
                                   max_depth=10.0)
        selection = select_floor(prediction, 'sqrt_disparity', frame.camera, frame.camera_to_base, 10.0)
        kept = np.isfinite(selection.depth)
        assert np.array_equal(np.flatnonzero(kept), selection.pixels)
        plane_pixels = np.isfinite(plane[::floor_selection.STRIDE, ::floor_selection.STRIDE]).sum()
        assert selection.floor_share > 0.3 and kept.sum() >= min(floor_selection.MAX_SAMPLES, 0.3 * plane_pixels)
        off_floor = np.abs(frame.depth[kept] / plane[kept] - 1.0)
        assert np.mean(off_floor > 0.02) <= 0.02, (frame.stamp_s, np.mean(off_floor > 0.02))
        assert off_floor.max() < 0.12, (frame.stamp_s, off_floor.max())
