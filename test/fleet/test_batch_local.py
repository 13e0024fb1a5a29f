"""`batch` in-process: the same messages as `process_bag`, a corrupt bag recorded, reruns do only what is missing."""
import json

import pytest

from depthmaster_ros import cli
from depthmaster_ros.bag import BagOptions, process_bag
from depthmaster_ros.config import Config, defaults
from depthmaster_ros.fleet import LocalExecutor, Manifest, discover, run_batch
from depthmaster_ros.pipeline import load_configured_estimator

from fixtures_bag import assert_random_weights_said


@pytest.fixture(scope='module')
def params(tiny_model_dir):
    return {**defaults(), 'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32', 'processing_res': 64,
            'cloud_stride': 2, 'min_points': 10}


@pytest.fixture(scope='module')
def inputs(make_bags):
    return make_bags({'a.mcap': 3, 'b_dir': 2})


def local(config, options):
    return lambda hashes: LocalExecutor(config, options, hashes)


def test_batch_writes_what_process_bag_writes_and_resumes(inputs, params, tmp_path, bag_messages, one_torch_thread):
    config, options = Config.from_params(params), BagOptions(progress=False)
    jobs = discover([str(inputs)], tmp_path / 'out')
    assert [job.name for job in jobs] == ['a.mcap', 'b_dir', 'corrupt.mcap']

    result = run_batch(jobs, tmp_path / 'out', config, options, local(config, options), progress=False)
    assert result.failed == ['corrupt.mcap']
    assert 'not a readable rosbag2' in result.records['corrupt.mcap'].reason

    estimator = load_configured_estimator(config.model)
    for name in ('a.mcap', 'b_dir'):
        reference = tmp_path / 'reference' / name
        process_bag(inputs / name, reference, estimator, config, BagOptions(progress=False))
        batch_messages = bag_messages(result.records[name].output)
        assert batch_messages and batch_messages == bag_messages(reference), name
        record = result.records[name]
        assert record.status == 'done' and record.outcome.frames['out'] == record.outcome.frames['selected'] > 0
        assert record.hash == result.run_hash

    again = run_batch(jobs, tmp_path / 'out', config, options, local(config, options), progress=False)
    assert again.skipped == ['a.mcap', 'b_dir'] and list(again.records) == ['corrupt.mcap']

    changed = config.replace(processing_res=48)
    redone = run_batch(jobs, tmp_path / 'out', changed, options, local(changed, options), progress=False)
    assert redone.skipped == [] and sorted(redone.records) == ['a.mcap', 'b_dir', 'corrupt.mcap']
    assert len(list(Manifest(tmp_path / 'out' / 'manifest.jsonl').records())) == 3 + 1 + 3


def test_cli_batch_reports_a_failed_bag_in_its_exit_status_and_manifest(inputs, params, tmp_path, capsys):
    out = tmp_path / 'out'
    argv = ['batch', str(inputs / 'a.mcap'), str(inputs / 'corrupt.mcap'), '--out', str(out), '--no-progress',
            '--model', params['model'], '--device', 'cpu', '--dtype', 'fp32', '--processing-res', '64',
            '-p', 'alignment_mode=fixed', '--summary', str(tmp_path / 'batch.json')]
    assert cli.main(argv) == 1
    printed = capsys.readouterr().out
    assert '1 done now' in printed and 'failed corrupt.mcap' in printed
    lines = [json.loads(line) for line in (out / 'manifest.jsonl').read_text().splitlines()]
    assert {line['name']: line['status'] for line in lines} == {'a.mcap': 'done', 'corrupt.mcap': 'failed'}
    assert (out / 'a.mcap').is_file() and not (out / 'corrupt.mcap').exists()
    assert json.loads((tmp_path / 'batch.json').read_text())['records']['a.mcap']['frames']['out'] == 3


def test_cli_batch_refuses_ray_only_flags_without_ray(inputs, tmp_path, capsys):
    assert cli.main(['batch', str(inputs), '--out', str(tmp_path / 'out'), '--workers', '2']) == 2
    assert '--executor ray' in capsys.readouterr().err


def test_cli_batch_says_random_weights_at_start_in_its_summary_and_every_manifest_line(inputs, params, tmp_path,
                                                                                       capsys):
    out = tmp_path / 'out'
    argv = ['batch', str(inputs / 'a.mcap'), str(inputs / 'b_dir'), '--out', str(out), '--no-progress',
            '--model', params['model'], '--device', 'cpu', '--dtype', 'fp32', '--processing-res', '64',
            '-p', 'alignment_mode=fixed', '--summary', str(tmp_path / 'batch.json')]
    assert cli.main(argv) == 0
    printed = capsys.readouterr()
    assert 'RANDOM WEIGHTS' in printed.err                             # said at the start
    assert_random_weights_said(printed.out, json.loads((tmp_path / 'batch.json').read_text())['weights'],
                               params['model'])
    lines = [json.loads(line) for line in (out / 'manifest.jsonl').read_text().splitlines()]
    assert len(lines) == 2 and all(line['random_weights'] and line['weights'].startswith('weights: RANDOM')
                                   for line in lines)
