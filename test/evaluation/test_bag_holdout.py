"""The bag holdout on the sample bag: the node's pipeline fits the kept LiDAR, the held-out returns score it."""
import numpy as np
import pytest

from depthmaster_ros.cli import main
from depthmaster_ros.config import Config
from depthmaster_ros.evaluation import Holdout, evaluate_bag, scan_lines
from depthmaster_ros.geometry import StampedCloud
from depthmaster_ros.synthetic import SyntheticScene, sample_bag

from fixtures_bag import FRAMES, HEIGHT, RATE, WIDTH

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_scan_lines_are_the_beams_of_the_scene_lidar():
    frame = SyntheticScene(width=64, height=48, lidar_beams=16).render(0.0)
    lines = scan_lines(frame.lidar_points)
    assert lines.max() + 1 == 16
    elevation = np.degrees(np.arctan2(frame.lidar_points[:, 2], np.hypot(*frame.lidar_points[:, :2].T)))
    for line in range(16):
        assert np.ptp(elevation[lines == line]) < 0.01


@pytest.mark.parametrize('text, every, share', [('lines:5', 5, 0.0), ('20%', 0, 0.2), ('0.25', 0, 0.25)])
def test_holdout_choices(text, every, share):
    holdout = Holdout.parse(text)
    assert (holdout.every, holdout.share) == (every, share)
    cloud = StampedCloud(SyntheticScene(width=64, height=48).render(0.0).lidar_points, 'lidar', 7)
    held = holdout.held_mask(cloud)
    expected = 1 / 5 if every else share
    assert abs(held.mean() - expected) < 0.06
    np.testing.assert_array_equal(held, holdout.held_mask(cloud))      # the same scan, the same returns


@pytest.mark.parametrize('text', ['lines:1', '0', '100%', 'every fifth'])
def test_bad_holdouts_are_refused(text):
    with pytest.raises(ValueError, match='--holdout'):
        Holdout.parse(text)


def scene_truth(frames, power=1.0):
    """The scene's exact depth as the model's map, optionally raised to a power (no longer affine)."""
    from fixtures_estimators import SceneTruthEstimator

    class Powered(SceneTruthEstimator):
        def _predict_same_size(self, rgbs, processing_res):
            predictions = super()._predict_same_size(rgbs, processing_res)
            for prediction in predictions:
                prediction.relative = (np.abs(prediction.relative) ** power).astype(np.float32)
            return predictions
    return Powered(frames)


def test_the_truth_scores_near_zero_and_only_the_lidar_mode_is_held_out(sample_bag_file, tiny_model_dir):
    scene = SyntheticScene(width=WIDTH, height=HEIGHT, seed=1, start_stamp_ns=sample_bag.START_STAMP_NS)
    frames = list(scene.frames(RATE, FRAMES / RATE))
    config = Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'min_points': 10,
                                 'alignment_method': 'global', 'temporal_smoothing': 0.0})
    scores = evaluate_bag(sample_bag_file, scene_truth(frames), config, Holdout(every=5))
    assert len(scores.frames) == FRAMES and scores.frames_without_metres == 0
    table = dict(scores.band_table())
    assert table['all']['returns'] > 50 * FRAMES
    # exact depth everywhere; what remains is a return's depth against its pixel's at 96x72 and edges
    assert table['all']['abs_rel'] < 0.02 and table['all']['delta1'] > 0.98
    assert np.median([row['abs_rel'] for row in scores.frames]) < 0.02
    # a map that is not an affine image of the truth: the held-out returns see the error
    distorted = evaluate_bag(sample_bag_file, scene_truth(frames, power=3.0), config, Holdout(every=5))
    assert dict(distorted.band_table())['all']['abs_rel'] > 3 * table['all']['abs_rel']
    assert sum(row['returns'] for label, row in table.items() if label != 'all') == table['all']['returns']
    fixed = Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'alignment_mode': 'fixed'})
    assert fixed.alignment.alignment_mode == 'fixed'
    with pytest.raises(ValueError, match='lidar'):
        evaluate_bag(sample_bag_file, scene_truth(frames), fixed, Holdout(every=5))


def test_the_command_prints_a_band_table(sample_bag_file, tiny_model_dir, tmp_path, capsys):
    import json
    out = tmp_path / 'bag.json'
    code = main(['evaluate', '--dataset', 'bag', str(sample_bag_file), '--model', str(tiny_model_dir), '--device',
                 'cpu', '--processing-res', '32', '--holdout', '20%', '--limit', '2', '--no-progress',
                 '-p', 'min_points=10', '--json', str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert '| band | returns | MAE mm | RMSE mm |' in printed and '20 % of the returns' in printed
    result = json.loads(out.read_text())
    assert result['protocol'] == 'lidar holdout (20 % of the returns)' and 'all' in result['bands']
    assert len(result['images']) + result['frames_without_metres'] <= 2
