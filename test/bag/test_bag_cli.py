"""`depthmaster-ros bag` as a real subprocess: a full run, exit codes, and Ctrl-C leaving a readable bag."""
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from rosbags.rosbag2 import Reader

from depthmaster_ros.synthetic import sample_bag

REPO = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 96, 72


# The tiny model runs fastest on one thread, and the two cores are shared with other work.
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}


def cli(*args):
    return [sys.executable, '-m', 'depthmaster_ros.cli', *map(str, args)]


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp('cli_in') / 'sample.mcap'
    sample_bag.write_sample_bag(path, frames=4, rate_hz=10.0, width=WIDTH, height=HEIGHT)
    return path


def topic_counts(path):
    with Reader(path) as reader:
        return {name: info.msgcount for name, info in reader.topics.items()}


def test_full_run_writes_bag_summary_and_contact_sheet(sample, tmp_path, tiny_model_dir):
    out, summary_path, sheet = tmp_path / 'out.mcap', tmp_path / 'report' / 'summary.json', tmp_path / 'sheet.png'
    result = subprocess.run(cli('bag', sample, out, '--params', REPO / 'config' / 'depthmaster.yaml',
                                '--model', tiny_model_dir, '--processing-res', 64, '--device', 'cpu',
                                '-p', 'alignment_mode=fixed', '-p', 'fixed_shift=0.3', '-p', 'cloud_stride=4',
                                '--copy-input', '--summary', summary_path, '--contact-sheet', sheet,
                                '--contact-sheet-rows', 2, '--label', 'test run', '--no-progress'),
                            capture_output=True, text=True, timeout=600, cwd=tmp_path, env=ENV)
    assert result.returncode == 0, result.stderr
    summary = json.loads(summary_path.read_text())
    assert summary['label'] == 'test run' and summary['interrupted'] is False
    assert summary['frames']['out'] == 4 and summary['model']['processing_res'] == 64
    assert summary['model']['alignment_mode'] == 'fixed'
    assert 0 <= summary['ground_truth']['delta1'] <= 1 and summary['ground_truth']['abs_rel'] > 0
    assert {'inference', 'alignment', 'write'} <= set(summary['timing_ms'])
    assert 'AbsRel' in result.stdout and 'frames: 4 in window' in result.stdout
    counts = topic_counts(out)
    assert counts['/camera/depth/image'] == counts['/camera/image_raw'] == 4
    assert sheet.is_file() and sheet.stat().st_size > 1000


def test_unloadable_model_exits_3_and_writes_nothing(sample, tmp_path):
    out = tmp_path / 'out.mcap'
    for model in (tmp_path / 'no_such_model', 'nobody/no-such-model'):
        result = subprocess.run(cli('bag', sample, out, '--model', model, '--no-progress'),
                                capture_output=True, text=True, timeout=300, env=ENV)
        assert result.returncode == 3, result.stderr
        assert 'cannot load the model' in result.stderr and str(model) in result.stderr
        assert 'Traceback' not in result.stderr
        assert not out.exists() and not list(tmp_path.glob('.out.mcap*'))


def test_bad_input_exits_2_naming_the_problem(sample, tmp_path, tiny_model_dir):
    existing = tmp_path / 'existing.mcap'
    existing.write_bytes(b'x')
    cases = [
        (('bag', sample, existing, '--model', tiny_model_dir), '--force'),
        (('bag', sample, tmp_path / 'o.mcap', '--model', tiny_model_dir, '--image-topic', '/nope'), '/nope'),
        (('bag', sample, tmp_path / 'o.mcap', '-p', 'processing_res=-5'), 'processing_res'),
        (('bag', sample, tmp_path / 'o.mcap', '-p', 'no_such_parameter=1'), 'no_such_parameter'),
        (('bag', tmp_path / 'missing', tmp_path / 'o.mcap'), 'missing'),
        # a camera of the ring that the bag does not hold is named
        (('bag', sample, tmp_path / 'o.mcap', '-p', 'cameras=[camera, left]'), "camera 'left': no camera image topic"),
    ]
    for args, expected in cases:
        result = subprocess.run(cli(*args, '--no-progress'), capture_output=True, text=True, timeout=300, env=ENV)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr and 'Traceback' not in result.stderr
    assert existing.read_bytes() == b'x'


def test_sigint_finishes_cleanly_with_a_readable_bag(tmp_path, tiny_model_dir):
    frames = 40
    long_sample = tmp_path / 'long.mcap'
    sample_bag.write_sample_bag(long_sample, frames=frames, rate_hz=10.0, width=WIDTH, height=HEIGHT)
    out, summary_path = tmp_path / 'out.mcap', tmp_path / 'summary.json'
    process = subprocess.Popen(cli('bag', long_sample, out, '--model', tiny_model_dir, '--processing-res', 256,
                                   '-p', 'alignment_mode=none', '--summary', summary_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    stderr = bytearray()
    reader = threading.Thread(target=lambda: [stderr.extend(chunk) for chunk in iter(lambda: process.stderr.read1(4096), b'')],
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        done = [int(n) for n in re.findall(rb'\| *(\d+)/%d \[' % frames, bytes(stderr))]   # our bar, not a loader's
        if done and max(done) >= 2:
            break
        time.sleep(0.05)
    assert process.poll() is None, f'finished before it could be interrupted: {bytes(stderr)[-2000:]!r}'
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=300)
    reader.join(timeout=10)
    assert process.returncode == 130, bytes(stderr)[-2000:]
    assert b'Traceback' not in stderr
    assert b'INTERRUPTED' in stdout
    written = topic_counts(out)['/camera/depth/alignment']
    assert 2 <= written < frames
    summary = json.loads(summary_path.read_text())
    assert summary['interrupted'] is True and summary['frames']['out'] == written
