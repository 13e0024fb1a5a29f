"""`depthmaster-ros evaluate` end to end: maps made from the ground truth, a known distortion, the model
with its resumable cache, Marigold, the sparse benchmarks with the project's alignment."""
import json

import numpy as np
import pytest

from depthmaster_ros.alignment import to_space
from depthmaster_ros.cli import main
from depthmaster_ros.evaluation import DatasetOptions, image_metrics, open_dataset

ZERO_SHOT = ('kitti', 'nyu', 'eth3d', 'scannet', 'diode')


def write_predictions(dataset, folder, space, distort=lambda values: values):
    """DIR/NAME.npy from the ground truth in `space`, under an affine map and `distort` (holes filled)."""
    for name in dataset.names():
        sample = dataset.load(name)
        depth = np.where(sample.mask, sample.depth_m, np.nanmedian(sample.depth_m[sample.mask]))
        path = folder / f'{name}.npy'
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, (2.0 * distort(to_space(depth, space)) + 0.3).astype(np.float32))
    return folder


def evaluate(tmp_path, *args):
    out = tmp_path / 'result.json'
    assert main(['evaluate', *map(str, args), '--json', str(out), '--no-progress']) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize('name', ZERO_SHOT)
@pytest.mark.parametrize('space', ['sqrt_disparity', 'depth'])
def test_maps_made_from_the_ground_truth_score_zero_after_alignment(layouts, tmp_path, name, space, capsys):
    path = layouts[f'{name}.tar']
    predictions = write_predictions(open_dataset(name, path), tmp_path / 'pred', space)
    result = evaluate(tmp_path, '--dataset', name, path, '--predictions', predictions, '--space', space)
    assert result['protocol'] == {'sqrt_disparity': 'least_square_sqrt_disp', 'depth': 'least_square'}[space]
    assert result['metrics']['abs_rel'] < 1e-5 and result['metrics']['delta1'] == 1.0
    assert len(result['images']) == 2 and set(result['images'][0]) >= {'name', 'abs_rel', 'rmse_log', 'delta3'}
    assert '| range | images | AbsRel % |' in capsys.readouterr().out


def test_a_known_distortion_gives_its_known_value(layouts, tmp_path):
    """Squared sqrt disparity (= disparity) fitted in sqrt-disparity space: the numbers of a plain
    least-squares fit, the published clip chain and the metric definitions, computed here by hand."""
    dataset = open_dataset('scannet', layouts['scannet'])
    predictions = write_predictions(dataset, tmp_path / 'pred', 'sqrt_disparity', lambda values: values ** 2)
    result = evaluate(tmp_path, '--dataset', 'scannet', layouts['scannet'], '--predictions', predictions,
                      '--space', 'sqrt_disparity')
    expected = []
    for name in dataset.names():
        sample = dataset.load(name)
        pred = np.load(predictions / f'{name}.npy').astype(np.float64)
        scale, shift = np.polyfit(pred[sample.mask], np.sqrt(1 / sample.depth_m[sample.mask]), 1)
        depth = np.clip(1 / np.maximum((scale * pred + shift) ** 2, 1e-3), 1e-3, 10.0)
        expected.append(image_metrics(depth, sample.depth_m, sample.mask)['abs_rel'])
    assert result['metrics']['abs_rel'] == pytest.approx(np.mean(expected), rel=1e-5)
    assert result['metrics']['abs_rel'] > 0.01


def test_the_model_runs_once_and_a_rerun_resumes_from_the_cache(layouts, tmp_path, tiny_model_dir, capsys):
    args = ['--dataset', 'eth3d', layouts['eth3d'], '--model', tiny_model_dir, '--device', 'cpu',
            '--processing-res', 32, '--cache', tmp_path / 'cache']
    first = evaluate(tmp_path, *args)
    assert 'over 2 new predictions' in capsys.readouterr().out
    cached = sorted((tmp_path / 'cache').rglob('*.npy'))
    assert len(cached) == 2
    cached[0].unlink()                         # as if stopped before the second image was written
    second = evaluate(tmp_path, *args)
    assert 'over 1 new predictions' in capsys.readouterr().out
    assert second['metrics'] == pytest.approx(first['metrics'])
    third = evaluate(tmp_path, *args[:-2], '--no-cache')
    assert third['metrics'] == pytest.approx(first['metrics'], rel=1e-4)


def test_the_marigold_backend_is_scored_in_its_depth_space(layouts, tmp_path, tiny_marigold_dir):
    result = evaluate(tmp_path, '--dataset', 'diode', layouts['diode'], '--model', tiny_marigold_dir,
                      '--backend', 'marigold', '--device', 'cpu', '--processing-res', 32, '--no-cache',
                      '-p', 'marigold_steps=1', '--limit', 1)
    assert result['protocol'] == 'least_square' and result['space'] == 'depth'
    assert len(result['images']) == 1 and np.isfinite(result['metrics']['abs_rel'])


@pytest.mark.parametrize('method', ['global', 'local'])
def test_void_is_scored_in_metres_in_both_ranges(layouts, tmp_path, method):
    dataset = open_dataset('void', layouts['void'], DatasetOptions(points=1500))
    predictions = write_predictions(dataset, tmp_path / 'pred', 'sqrt_disparity')
    result = evaluate(tmp_path, '--dataset', 'void', layouts['void'], '--points', 1500, '--predictions', predictions,
                      '--method', method, '-p', 'min_depth=0.05')
    assert result['protocol'] == f'sparse {method}'
    assert set(result['ranges']) == {'0.2-5.0 m', 'all'} and not result['failed']
    for values in result['ranges'].values():
        assert values['images'] == 2 and values['rmse'] < 1e-3 and values['coverage'] > 0.99
    assert result['metrics'] == result['ranges']['0.2-5.0 m'] and 'mae' in result['images'][0]
    assert result['alignment_seconds_per_image'] > 0


def test_nyu_500_points_with_a_distorted_prediction_has_metre_errors(layouts, tmp_path):
    dataset = open_dataset('nyu', layouts['nyu'], DatasetOptions(points=500))
    predictions = write_predictions(dataset, tmp_path / 'pred', 'sqrt_disparity', lambda values: values ** 1.3)
    result = evaluate(tmp_path, '--dataset', 'nyu', layouts['nyu'], '--points', 500, '--predictions', predictions,
                      '--method', 'global')
    assert 0.01 < result['metrics']['rmse'] < 1.0 and result['metrics']['mae'] < result['metrics']['rmse']


def test_bad_arguments_exit_2(layouts, tmp_path, capsys):
    assert main(['evaluate', '--dataset', 'nope', str(tmp_path)]) == 2
    assert main(['evaluate', '--dataset', 'nyu', str(layouts['nyu']), '--predictions', str(tmp_path / 'none')]) == 2
    assert main(['evaluate', '--dataset', 'void', str(layouts['void']), '--points', '7']) == 2
    assert 'void' in capsys.readouterr().err


def test_make_sample_writes_a_layout_the_command_reads(tmp_path, capsys):
    assert main(['make-sample', '--layout', 'diode', str(tmp_path / 'try'), '--frames', '1', '--tar']) == 0
    assert 'evaluate --dataset diode' in capsys.readouterr().out
    assert len(open_dataset('diode', tmp_path / 'try' / 'diode.tar').names()) == 1


def test_a_folder_without_sparse_maps_is_scored_zero_shot(layouts, tmp_path, capsys):
    import shutil
    root = tmp_path / 'mine'
    shutil.copytree(layouts['folder'], root, ignore=shutil.ignore_patterns('sparse'))
    predictions = write_predictions(open_dataset('folder', root), tmp_path / 'pred', 'sqrt_disparity')
    result = evaluate(tmp_path, '--dataset', 'folder', root, '--predictions', predictions, '--max-depth', 8)
    assert result['protocol'] == 'least_square_sqrt_disp' and result['metrics']['abs_rel'] < 1e-5
    other = evaluate(tmp_path, '--dataset', 'folder', root, '--predictions', predictions, '--alignment', 'least_square')
    assert other['protocol'] == 'least_square' and other['metrics']['abs_rel'] > 0.01
    assert 'as the published scripts would' in capsys.readouterr().err


def test_a_progress_bar_counts_images(layouts, tmp_path, capsys):
    predictions = write_predictions(open_dataset('diode', layouts['diode']), tmp_path / 'pred', 'sqrt_disparity')
    assert main(['evaluate', '--dataset', 'diode', str(layouts['diode']), '--predictions', str(predictions)]) == 0
    assert '2/2' in capsys.readouterr().err
