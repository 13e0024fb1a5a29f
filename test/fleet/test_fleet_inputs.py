"""Batch bookkeeping without a model: which bags are found, where outputs go, what the manifest calls done."""
import json
import os

import pytest

from depthmaster_ros import InputError
from depthmaster_ros.bag import BagOptions
from depthmaster_ros.config import Config
from depthmaster_ros.fleet import (
    DONE,
    FAILED,
    BagOutcome,
    Manifest,
    ManifestRecord,
    discover,
    model_identity,
    run_hash,
)


def touch(path, text='x'):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def tree(tmp_path):
    """robot1/day.mcap, robot2/day.mcap, robot2/night (a bag directory), a stray file and a partial."""
    root = tmp_path / 'logs'
    touch(root / 'robot1' / 'day.mcap')
    touch(root / 'robot2' / 'day.mcap')
    touch(root / 'robot2' / 'night' / 'metadata.yaml')
    touch(root / 'robot2' / 'night' / 'night_0.db3')
    touch(root / 'robot2' / 'notes.txt')
    touch(root / 'robot2' / '.day.mcap.partial-123' / 'x.mcap')
    return root


def test_a_directory_keeps_relative_paths_so_same_names_do_not_collide(tree, tmp_path):
    jobs = discover([str(tree)], tmp_path / 'out')
    assert [job.name for job in jobs] == ['robot1/day.mcap', 'robot2/day.mcap', 'robot2/night']
    assert jobs[2].input == str(tree / 'robot2' / 'night')
    assert jobs[2].output == str((tmp_path / 'out' / 'robot2' / 'night').resolve())


def test_bags_named_one_by_one_collide_when_they_share_a_name(tree, tmp_path):
    with pytest.raises(InputError, match='would both write'):
        discover([str(tree / 'robot1' / 'day.mcap'), str(tree / 'robot2' / 'day.mcap')], tmp_path / 'out')


def test_globs_expand_and_a_bag_directory_is_one_bag(tree, tmp_path):
    jobs = discover([str(tree / 'robot1' / '*.mcap'), str(tree / 'robot2' / 'night')], tmp_path / 'out')
    assert [job.name for job in jobs] == ['day.mcap', 'night']
    with pytest.raises(InputError, match='matches nothing'):
        discover([str(tree / '*.bag')], tmp_path / 'out')


def test_storage_choice_renames_single_file_outputs(tree, tmp_path):
    jobs = discover([str(tree / 'robot1')], tmp_path / 'out', storage='sqlite3')
    assert [job.name for job in jobs] == ['day.db3']


def test_inputs_that_are_not_bags_are_refused_with_the_reason(tree, tmp_path):
    with pytest.raises(InputError, match='is not a bag'):
        discover([str(tree / 'robot2' / 'notes.txt')], tmp_path / 'out')
    with pytest.raises(InputError, match='does not exist'):
        discover([str(tree / 'nowhere.mcap')], tmp_path / 'out')
    with pytest.raises(InputError, match='holds no bag'):
        discover([str(touch(tmp_path / 'empty' / 'a.txt').parent)], tmp_path / 'out')


def test_the_output_directory_inside_an_input_directory_is_not_searched(tree):
    out = tree / 'processed'
    touch(out / 'robot1' / 'day.mcap')
    assert 'processed/robot1/day.mcap' not in [job.name for job in discover([str(tree)], out)]


def test_model_identity_follows_the_weight_files(tmp_path):
    model = tmp_path / 'model'
    touch(model / 'unet' / 'weights.safetensors', 'aaaa')
    first = model_identity(str(model))
    assert model_identity(str(model)) == first
    touch(model / 'unet' / 'weights.safetensors', 'aaaab')
    assert model_identity(str(model)) != first
    assert model_identity('org/some-model') == {'hub_id': 'org/some-model'}


def test_the_run_hash_changes_with_parameters_and_output_options_only():
    config, options = Config.from_params({}), BagOptions()
    base = run_hash(config, options)
    assert run_hash(config, BagOptions(label='another note', progress=False)) == base
    assert run_hash(config, BagOptions(every=2))['params'] != base['params']
    changed = run_hash(config.replace(processing_res=384), options)
    assert changed['params'] != base['params'] and changed['model'] == base['model']


def test_manifest_newest_record_decides_and_a_cut_line_is_ignored(tmp_path):
    output = touch(tmp_path / 'out' / 'a.mcap')
    manifest = Manifest(tmp_path / 'out' / 'manifest.jsonl')
    attempt = dict(name='a.mcap', input='in/a.mcap', output=str(output), hash={'run': 'h1'}, attempt=1,
                   finished_at='2026-01-01T00:00:00.000+00:00')
    manifest.append(ManifestRecord(status=FAILED, reason='ValueError: no image topic', **attempt))
    assert not manifest.is_done('a.mcap', 'h1')
    manifest.append(ManifestRecord(status=DONE, outcome=BagOutcome({'in': 1, 'selected': 1, 'out': 1}, {}, {}, None,
                                                                   'cpu', 1, 'weights: hub a/b', False), **attempt))
    with manifest.path.open('a') as out:
        out.write(json.dumps({'name': 'a.mcap', 'status': FAILED})[:20])     # a driver killed mid-write
    reread = Manifest(manifest.path)
    assert reread.is_done('a.mcap', 'h1')
    assert not reread.is_done('a.mcap', 'h2'), 'another parameter or model hash is not done'
    os.remove(output)
    assert not reread.is_done('a.mcap', 'h1'), 'a deleted output is redone'


def test_a_manifest_line_keeps_its_layout_whichever_executor_made_the_record(tmp_path):
    manifest = Manifest(tmp_path / 'manifest.jsonl')
    common = dict(name='a.mcap', input='in/a.mcap', output='out/a.mcap', hash={'run': 'h1'}, attempt=2,
                  finished_at='2026-01-01T00:00:01.000+00:00')
    manifest.append(ManifestRecord(status=FAILED, reason='worker died mid-bag (RayActorError); retrying',
                                   will_retry=True, **common))
    manifest.append(ManifestRecord(status=DONE, started_at='2026-01-01T00:00:00.000+00:00',
                                   worker={'host': 'h', 'pid': 7}, timings={'wall_s': 1.0},
                                   outcome=BagOutcome({'in': 3, 'selected': 3, 'out': 2}, {'camera_info': 1}, {},
                                                      None, 'cpu', 1, 'weights: RANDOM (...)', True), **common))
    failed, done = (json.loads(line) for line in manifest.path.read_text().splitlines())
    assert failed == {**common, 'status': FAILED, 'will_retry': True,
                      'reason': 'worker died mid-bag (RayActorError); retrying'}
    assert done == {**common, 'status': DONE, 'started_at': '2026-01-01T00:00:00.000+00:00',
                    'worker': {'host': 'h', 'pid': 7}, 'timings': {'wall_s': 1.0},
                    'frames': {'in': 3, 'selected': 3, 'out': 2}, 'skips': {'camera_info': 1}, 'faults': {},
                    'alignment_ok_ratio': None, 'device': 'cpu', 'torch_threads': 1,
                    'weights': 'weights: RANDOM (...)', 'random_weights': True}
    assert Manifest(manifest.path).latest['a.mcap'] == done
