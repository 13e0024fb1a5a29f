"""`depthmaster-ros monitor` against a real node process in a namespace, fed by a camera driver process:
every output the node publishes shows with its rate, latency, stamp order and size, and the node's
/diagnostics statuses follow."""
import json
from pathlib import Path
import subprocess
import sys

import pytest

from fixtures_process import CLI, start_node_process, wait_for_line, write_node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

DRIVER = Path(__file__).with_name('camera_driver.py')
SECONDS, HZ = 6.0, 5.0


def run_monitor_against_node(tmp_path, tiny_model_dir, *monitor_args):
    params = write_node_params(tmp_path, tiny_model_dir, alignment_mode="'fixed'", fixed_scale=0.5, fixed_shift=0.1)
    node = start_node_process(params, '--ros-args', '-r', '__ns:=/robot')
    monitor = None
    try:
        assert 'ready:' in wait_for_line(node, 'ready:', 120)
        monitor = subprocess.Popen([CLI, 'monitor', '--namespace', '/robot', *monitor_args], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        driver = subprocess.run([sys.executable, str(DRIVER), str(SECONDS), str(HZ), '160', '120', '/robot'],
                                capture_output=True, text=True, timeout=120)
        assert driver.returncode == 0, driver.stderr
        out, err = monitor.communicate(timeout=60)
        assert monitor.returncode == 0, err
        return out, json.loads(driver.stdout.strip().splitlines()[-1])['frames']
    finally:
        for process in (node, monitor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.communicate(timeout=20)


def test_monitor_reports_every_output_and_the_diagnostics(tmp_path, tiny_model_dir):
    out, sent = run_monitor_against_node(tmp_path, tiny_model_dir, '--once', '--json', '--duration', str(SECONDS + 4))
    report = json.loads(out.strip().splitlines()[-1])
    outputs = {output['topic']: output for output in report['outputs']}
    assert {'/robot/depth/image', '/robot/depth/camera_info', '/robot/depth/relative', '/robot/depth/points',
            '/robot/depth/alignment'} <= set(outputs), sorted(outputs)
    depth = outputs['/robot/depth/image']
    assert 0 < depth['received'] <= sent and depth['lost'] == 0
    assert depth['size_bytes'] > 160 * 120 * 4                         # 32FC1 pixels plus the header
    assert outputs['/robot/depth/camera_info']['size_bytes'] < 1000
    assert 0 < depth['latency_mean_ms'] <= depth['latency_max_ms'] < 10_000
    assert all(output['stamps_back'] == 0 for output in outputs.values())
    names = {line['name']: line for line in report['diagnostics']}
    assert {'depthmaster_node: pipeline', 'depthmaster_node: model'} <= set(names), names
    assert all(line['level'] in ('OK', 'WARN', 'ERROR', 'STALE') for line in names.values())
    model = names['depthmaster_node: model']                           # the tiny model: random weights
    assert model['level'] == 'WARN' and model['message'].startswith('RANDOM WEIGHTS'), model


def test_monitor_prints_a_table_refreshed_every_period(tmp_path, tiny_model_dir):
    out, _ = run_monitor_against_node(tmp_path, tiny_model_dir, '--duration', str(SECONDS + 2), '--period', '2')
    tables = [block for block in out.split('\n\n') if block.startswith('output')]
    assert len(tables) >= 3, out                                      # refreshed, not printed once
    last = tables[-1].splitlines()
    assert any(line.startswith('/robot/depth/image ') for line in last), out
    assert '] depthmaster_node: pipeline:' in out
