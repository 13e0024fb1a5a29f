"""The benchmark harness (`make bench`) runs end to end with a tiny model on the CPU and reports every stage.

Speed is never asserted here: only that each stage was measured and the report is complete.
"""
import json
import os
from pathlib import Path
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
BENCH = REPO / 'benchmarks' / 'bench.py'
STAGES = ('convert', 'preprocess', 'vae_encode', 'unet', 'vae_decode', 'postprocess', 'alignment',
          'point_cloud', 'message_build')
PLUMBING_STAGES = ('convert', 'alignment', 'point_cloud', 'message_build')
STATS = ('n', 'median_ms', 'p90_ms', 'p99_ms', 'mean_ms', 'min_ms', 'max_ms')
ITERS = 2


def run_bench(tmp_path, *extra):
    out = tmp_path / 'bench.json'
    command = [sys.executable, str(BENCH), '--device', 'cpu', '--out', str(out), *extra]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, PYTHONWARNINGS='ignore'))
    return completed, out


@pytest.fixture(scope='module')
def tiny_report(tmp_path_factory):
    completed, out = run_bench(
        tmp_path_factory.mktemp('bench'), '--tiny', '--inputs', '64x48', '--res', '64', '--dtypes', 'fp32,fp16,bf16',
        '--batch', '1,2', '--warmup', '1', '--iters', str(ITERS), '--plumbing-size', '160x120',
        '--plumbing-iters', '3', '--postprocess', 'torch')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text()), completed.stdout


def assert_measured(stats, count):
    assert set(STATS) <= set(stats)
    assert stats['n'] == count
    assert 0.0 <= stats['min_ms'] <= stats['median_ms'] <= stats['p90_ms'] <= stats['p99_ms'] <= stats['max_ms']


@pytest.mark.slow
def test_report_states_environment_and_settings(tiny_report):
    report, _ = tiny_report
    assert report['schema'] == 'depthmaster_ros.bench/1'
    environment = report['environment']
    for key in ('device', 'device_name', 'torch', 'cuda', 'cudnn', 'diffusers', 'torch_threads', 'cpu_count'):
        assert key in environment
    assert environment['device'] == 'cpu' and environment['torch_threads'] >= 1
    settings = report['settings']
    assert settings['inputs'] == ['64x48'] and settings['processing_res'] == [64] and settings['batch'] == [1, 2]
    assert settings['warmup'] == 1 and settings['iters'] == ITERS
    assert 'tiny' in settings['model']
    assert any('NOT THE PRODUCT TARGET' in note for note in report['notes'])


@pytest.mark.slow
def test_unusable_dtypes_are_skipped_with_a_reason(tiny_report):
    report, stdout = tiny_report
    skipped = {entry['dtype']: entry['reason'] for entry in report['skipped']}
    assert 'fp16' in skipped and skipped['fp16']
    assert set(report['settings']['dtypes']) | set(skipped) == {'fp32', 'fp16', 'bf16'}
    assert not set(report['settings']['dtypes']) & set(skipped)
    assert 'skipped dtype fp16' in stdout


@pytest.mark.slow
def test_every_stage_of_every_run_was_measured(tiny_report):
    report, _ = tiny_report
    runs = report['runs']
    optimised = [run for run in runs if run['kind'] == 'optimised']
    baseline = [run for run in runs if run['kind'] == 'naive_baseline']
    expected = {(dtype, batch) for dtype in report['settings']['dtypes'] for batch in (1, 2)}
    assert {(run['dtype'], run['batch']) for run in optimised} == expected
    assert len(baseline) == 1 and baseline[0]['dtype'] == 'fp32' and baseline[0]['batch'] == 1
    assert baseline[0]['options']['postprocess'] == 'numpy' and baseline[0]['options']['naive'] is True
    for run in runs:
        for stage in STAGES:
            assert_measured(run['stages'][stage], ITERS)
        assert_measured(run['stages']['alignment.projection'], ITERS)
        assert_measured(run['stages']['alignment.fit'], ITERS)
        assert_measured(run['end_to_end_per_batch'], ITERS)
        assert run['fps'] > 0 and 0 < run['model_share'] <= 1
        assert run['per_frame_ms'] == pytest.approx(run['end_to_end_per_batch']['median_ms'] / run['batch'])
        assert run['alignment_fits']['total'] == (1 + ITERS) * run['batch']
    for run in optimised:
        assert run['options']['postprocess'] == 'torch'
    assert {row['baseline'] for row in report['speedups']} == {baseline[0]['name']}
    assert len(report['speedups']) == len(optimised)


@pytest.mark.slow
def test_plumbing_is_measured_against_its_budget(tiny_report):
    report, stdout = tiny_report
    plumbing = report['plumbing']
    assert plumbing['input'] == '160x120' and plumbing['alignment_method'] == 'global'
    for stage in PLUMBING_STAGES:
        assert_measured(plumbing['stages'][stage], 3)
    assert plumbing['sum_of_stage_medians_ms'] == pytest.approx(
        sum(plumbing['stages'][stage]['median_ms'] for stage in PLUMBING_STAGES))
    assert plumbing['status'] in ('PASS', 'FAIL') and plumbing['target_ms'] == 3.0
    assert plumbing['dominant_stage'] in plumbing['stages']
    assert 0 < plumbing['lidar_coverage'] < 1 and plumbing['lidar_points'] > 0
    assert plumbing['alignment_fits']['accepted'] == plumbing['alignment_fits']['total'] == 4
    assert 'CPU plumbing per 160x120 frame' in stdout


@pytest.mark.slow
def test_gpu_targets_are_not_judged_on_the_cpu(tiny_report):
    report, stdout = tiny_report
    assert len(report['targets']) == 6
    assert all(check['status'].startswith('N/A') for check in report['targets'])
    assert 'PASS:' not in stdout and 'FAIL:' not in stdout


@pytest.fixture(scope='module')
def bench_module():
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    return bench


def test_target_checks_judge_cuda_runs(bench_module):
    def run(kind, res, per_frame_ms, share, dtype='bf16'):
        return {'kind': kind, 'input': '640x480', 'processing_res': res, 'dtype': dtype, 'batch': 1,
                'name': f'{kind} {res}', 'per_frame_ms': per_frame_ms, 'fps': 1e3 / per_frame_ms,
                'model_share': share}

    runs = [run('optimised', 512, 15.0, 0.9), run('optimised', 768, 60.0, 0.7),
            run('naive_baseline', 512, 100.0, 0.95, 'fp32')]
    checks = {check['check']: check['status']
              for check in bench_module.target_checks(SimpleNamespace(device='cuda'), runs)}
    assert checks['end-to-end FPS, 640x480 bf16 batch 1, res 512'] == 'PASS'
    assert checks['end-to-end FPS, 640x480 bf16 batch 1, res 768'] == 'FAIL'
    assert checks['model share of frame time, res 512'] == 'PASS'
    assert checks['model share of frame time, res 768'] == 'FAIL'
    assert checks['speed-up vs naive eager fp32, res 512'] == 'PASS'
    assert checks['speed-up vs naive eager fp32, res 768'].startswith('NOT MEASURED')


def test_cpu_defaults_are_the_small_configuration(bench_module):
    args = bench_module.parse_args(['--device', 'cpu'])
    assert (args.inputs, args.res, args.dtypes, args.batch) == ([(640, 480)], [384], ['fp32'], [1])
    assert (args.warmup, args.iters, args.compile) == (1, 2, 'off')


def test_the_plumbing_runs_the_chosen_alignment_method(bench_module):
    args = bench_module.parse_args(['--device', 'cpu', '--no-model', '--plumbing-size', '160x120',
                                    '--plumbing-iters', '2', '--alignment-method', 'local'])
    plumbing = bench_module.measure_plumbing(args, bench_module.processing_params(),
                                             lambda: bench_module.StageTimer(None))
    assert plumbing['alignment_method'] == 'local'
    assert plumbing['alignment_fits']['total'] == 3 and 'alignment.fit' in plumbing['stages']


@pytest.mark.parametrize('flag, value', [('--inputs', '64by48'), ('--dtypes', 'fp8'), ('--batch', '0'),
                                         ('--res', 'x'), ('--iters', '0')])
def test_bad_arguments_name_the_flag(bench_module, capsys, flag, value):
    with pytest.raises(SystemExit) as exit_info:
        bench_module.parse_args(['--device', 'cpu', '--tiny', flag, value])
    assert exit_info.value.code == 2
    assert flag in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='CUDA-only path (torch post-processing on the GPU, upload overlap): no CUDA device here')
def test_cuda_run_reports_targets_and_upload_overlap(tmp_path):
    completed, out = run_bench(
        tmp_path, '--device', 'cuda', '--tiny', '--inputs', '64x48', '--res', '64', '--dtypes', 'bf16,fp32',
        '--batch', '1,2', '--warmup', '1', '--iters', '3', '--compile', 'off', '--plumbing-size', '160x120',
        '--plumbing-iters', '3')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report['environment']['cuda'] and report['environment']['device'] == 'cuda'
    for run in report['runs']:
        for stage in STAGES:
            assert_measured(run['stages'][stage], 3)
    assert all(run['options']['postprocess'] == 'torch' for run in report['runs'] if run['kind'] == 'optimised')
    overlap = report['upload_overlap']
    assert overlap['upload_ms'] > 0 and overlap['sequential_ms'] > 0 and overlap['overlapped_ms'] > 0
    statuses = [check['status'] for check in report['targets']]
    assert all(status in ('PASS', 'FAIL') or status.startswith('NOT MEASURED') for status in statuses)


def test_stand_in_runs_serial_and_pipelined_paths_side_by_side(tmp_path):
    """--stand-in-ms: both frame paths, serial and pipelined, in one run; outputs compared, no speed asserted."""
    completed, out = run_bench(tmp_path, '--stand-in-ms', '5', '--path', 'node,bag', '--pipeline-frames', '6',
                               '--plumbing-size', '128x96', '--no-plumbing')
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    pipeline = json.loads(out.read_text())['pipeline']
    assert set(pipeline) == {'node', 'bag'}
    for path, row in pipeline.items():
        assert {'serial_fps', 'pipelined_fps', 'p50_ms', 'p99_ms', 'identical'} <= set(row), path
        assert row['identical'] is True and row['frames'] == 6 and row['input'] == '128x96'
        assert row['serial_fps'] > 0 and row['pipelined_fps'] > 0 and row['p50_ms'] <= row['p99_ms']
    from depthmaster_ros.model import backend_names
    assert 'stand_in' not in backend_names()                  # the stand-in is the harness's, no user backend
