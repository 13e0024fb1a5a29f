"""tools/device_check.sh --device cpu --tiny: the same script the GPU machine runs, here in .venv.

It must finish, pass its correctness phase, time every configuration of the dry run end to end
with accepted fits, and write the JSON and the table (never asserting any speed).
"""
import json
import os
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[2]


def test_device_check_cpu_dry_run(tmp_path):
    env = dict(os.environ, DEVICE_CHECK_OUT=str(tmp_path / 'out'))
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env["PATH"]}'
    completed = subprocess.run([str(ROOT / 'tools' / 'device_check.sh'), '--device', 'cpu', '--tiny'],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = json.loads((tmp_path / 'out' / 'device_check.json').read_text())
    assert report['schema'] == 'depthmaster_ros.device_check/1'
    assert report['correctness']['status'] == 'PASS'
    checks = report['correctness']['checks']
    assert checks['fit: device map vs numpy']['status'] == 'PASS'
    assert checks['model fp32 vs CPU fp32']['measured']['max_abs'] == 0.0
    runs = {(run['processing_res'], run['batch']) for run in report['runs']}
    assert runs == {(64, 1), (128, 1), (64, 4), (128, 4)}
    for run in report['runs']:
        assert run['mode'] == 'eager' and run['frame']['n'] >= 3
        assert run['fits_accepted'] == run['fits_total'] == run['frame']['n'] * run['batch']
        assert 0 < run['model_share'] <= 1.0 + 1e-6
        assert run['model_fps'] > 0 and run['pipelined_fps'] > 0        # the pipelined frame path beside the model
    training = report['training']                    # one LoRA fine-tuning step, batch 1 and 2 (issue 25)
    assert [run['batch'] for run in training['runs']] == [1, 2] and training['adapters_trained']
    assert all(run['steps'] >= 1 and run['steps_per_s'] > 0 and run['fitted_images'] == run['batch']
               for run in training['runs'])
    assert all(check['status'].startswith('N/A') for check in report['targets'])
    table = (tmp_path / 'out' / 'device_check.txt').read_text()
    assert 'correctness: PASS' in table and 'eager r128 b4' in table and 'train r32 b2' in table
