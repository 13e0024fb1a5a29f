"""`fixed` mode's two numbers are in the model's space, and a good depth/alignment record gives them:
its scale and shift, set as fixed_scale and fixed_shift, give the same metres on later frames with no
LiDAR at all (depth = 1 / (scale * p + shift)^2 for sqrt disparity, not scale * p + shift)."""
import numpy as np

from depthmaster_ros.config import BY_NAME
from depthmaster_ros.pipeline import DepthPipeline

from fixtures_estimators import SceneTruthEstimator
from fixtures_pipeline import frame_input
from fixtures_pipeline import pipeline_config as config


def close_fraction(depth, truth, rel_tol=0.02):
    both = np.isfinite(depth) & np.isfinite(truth)
    return np.mean(np.abs(depth[both] - truth[both]) <= rel_tol * truth[both]) if both.any() else 0.0


def test_a_good_records_scale_and_shift_give_the_metres_in_fixed_mode(frames):
    estimator = SceneTruthEstimator(frames)
    lidar = DepthPipeline(estimator, config(alignment_mode='lidar', alignment_method='global',
                                            occlusion_window_px=5)).process(frame_input(frames[0]))
    record = lidar.record
    assert record.ok and record.method == 'global'
    fixed = DepthPipeline(estimator, config(alignment_mode='fixed', fixed_scale=record.scale,
                                            fixed_shift=record.shift)).process(frame_input(frames[1], with_cloud=False))
    truth = frames[1].depth
    assert close_fraction(fixed.depth_m, truth) > 0.95
    relative = fixed.relative
    as_if_metres = record.scale * relative + record.shift        # the reading the parameter table must rule out
    assert close_fraction(as_if_metres, truth) < 0.05


def test_the_parameter_table_says_the_numbers_are_in_model_space_and_where_to_get_them():
    scale, shift = BY_NAME['fixed_scale'].description, BY_NAME['fixed_shift'].description
    assert "model's space" in scale and '1 / (scale * p + shift)^2' in scale and 'depth/alignment' in scale
    assert "model's space" in shift and 'depth/alignment' in shift
