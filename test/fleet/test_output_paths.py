"""`bag OUT` and `batch --out` write only at their target: a link planted at the final path (or above it, inside
--out) is replaced or refused, never followed, and input names with .. cannot lead outside --out."""
import json

import pytest

from depthmaster_ros import cli
from depthmaster_ros.bag import BagOptions
from depthmaster_ros.config import Config
from depthmaster_ros.fleet import BagJob, LocalExecutor, discover, run_batch

VICTIM_TEXT = 'not to be touched\n'


@pytest.fixture(scope='module')
def inputs(make_bags):
    return make_bags({'a.mcap': 1, 'robot1/day.mcap': 1}, corrupt=False)


@pytest.fixture(scope='module')
def config(tiny_model_dir):
    return Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32', 'processing_res': 32,
                               'alignment_mode': 'none'})


def _victim(tmp_path):
    victim = tmp_path / 'elsewhere' / 'victim.mcap'
    victim.parent.mkdir()
    victim.write_text(VICTIM_TEXT)
    return victim


def _bag_argv(inputs, out, config, *extra):
    return ['bag', str(inputs / 'a.mcap'), str(out), '--no-progress', '--model', config.model.model, '--device',
            'cpu', '--dtype', 'fp32', '--processing-res', '32', '-p', 'alignment_mode=none', *extra]


def test_bag_never_follows_a_link_planted_at_out(inputs, config, tmp_path, capsys):
    victim = _victim(tmp_path)
    out = tmp_path / 'out.mcap'
    out.symlink_to(victim)
    assert cli.main(_bag_argv(inputs, out, config)) == 2               # it exists: only --force replaces it
    assert 'exists' in capsys.readouterr().err
    summary = tmp_path / 'summary.json'
    summary.symlink_to(tmp_path / 'elsewhere' / 'victim.json')
    assert cli.main(_bag_argv(inputs, out, config, '--force', '--summary', str(summary))) == 0
    assert victim.read_text() == VICTIM_TEXT and not (tmp_path / 'elsewhere' / 'victim.json').exists()
    assert out.is_file() and not out.is_symlink() and out.stat().st_size > 1000
    assert not summary.is_symlink() and json.loads(summary.read_text())['frames']['out'] == 1


def test_bag_never_follows_a_dangling_link_planted_at_out(inputs, config, tmp_path):
    out = tmp_path / 'out.mcap'
    out.symlink_to(tmp_path / 'elsewhere' / 'created.mcap')
    (tmp_path / 'elsewhere').mkdir()
    assert cli.main(_bag_argv(inputs, out, config, '--force')) == 0
    assert not (tmp_path / 'elsewhere' / 'created.mcap').exists() and out.is_file() and not out.is_symlink()


def _batch(jobs, out, config):
    options = BagOptions(progress=False)
    return run_batch(jobs, out, config, options, lambda hashes: LocalExecutor(config, options, hashes), progress=False)


def test_batch_replaces_a_link_planted_at_a_final_path(inputs, config, tmp_path):
    victim = _victim(tmp_path)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'a.mcap').symlink_to(victim)
    result = _batch(discover([str(inputs / 'a.mcap')], out), out, config)
    assert result.failed == [] and victim.read_text() == VICTIM_TEXT
    assert (out / 'a.mcap').is_file() and not (out / 'a.mcap').is_symlink()


def test_batch_refuses_a_directory_link_inside_out(inputs, config, tmp_path):
    elsewhere = _victim(tmp_path).parent
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'robot1').symlink_to(elsewhere, target_is_directory=True)
    result = _batch(discover([str(inputs)], out), out, config)
    assert result.failed == ['robot1/day.mcap'] and 'outside' in result.records['robot1/day.mcap'].reason
    assert sorted(p.name for p in elsewhere.iterdir()) == ['victim.mcap']
    assert (out / 'a.mcap').is_file()                                   # the batch went on


def test_input_names_with_dots_stay_inside_out(inputs, tmp_path):
    out = tmp_path / 'out'
    jobs = discover([str(inputs / 'robot1' / '..' / 'a.mcap')], out)
    assert [job.output for job in jobs] == [str(out.resolve() / 'a.mcap')]
    bag_dir = inputs.parent / 'bag_dir_for_dots'
    if not bag_dir.exists():
        from depthmaster_ros.synthetic import write_sample_bag
        write_sample_bag(bag_dir, frames=1, width=32, height=24, storage='sqlite3')
        (bag_dir / 'sub').mkdir()
    jobs = discover([str(bag_dir / 'sub' / '..')], out)
    assert [job.name for job in jobs] == ['bag_dir_for_dots']          # not '..', which would be OUT's parent


def test_a_final_path_outside_out_is_refused_when_written(inputs, config, tmp_path):
    out = tmp_path / 'out'
    job = BagJob(str(inputs / 'a.mcap'), str(out / 'sub' / '..' / '..' / 'escaped.mcap'), 'sub/../../escaped.mcap')
    result = _batch([job], out, config)
    assert 'outside' in result.records[job.name].reason and not (tmp_path / 'escaped.mcap').exists()
