"""tools/demo.sh tries the hub for the real weights, and without it falls back loudly and still finishes.

The hub is made unreachable for certain by pointing HF_ENDPOINT at a closed local port, so this test
never downloads anything, even on a machine with network; the cache is an empty directory.
"""
import json
import os
from pathlib import Path
import subprocess
import sys

from mcap.reader import make_reader
import pytest

from fixtures_bag import assert_random_weights_said

REPO = Path(__file__).resolve().parents[2]
UNREACHABLE_HUB = 'http://127.0.0.1:9'     # the discard port: nothing listens, the connection is refused


def run_demo(tmp_path, offline):
    environment = {key: value for key, value in os.environ.items() if not key.startswith('HF_')}
    environment.update({
        'PYTHON': sys.executable, 'DEMO_OUT': str(tmp_path / 'demo_out'), 'DEMO_FRAMES': '2', 'DEMO_WIDTH': '64',
        'DEMO_HEIGHT': '48', 'DEMO_PROCESSING_RES': '32', 'OMP_NUM_THREADS': '1',
        'HF_HOME': str(tmp_path / 'hf_home'), 'HF_ENDPOINT': UNREACHABLE_HUB})
    if offline:
        environment['HF_HUB_OFFLINE'] = '1'
    return subprocess.run(['bash', str(REPO / 'tools' / 'demo.sh')], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize('offline', [False, True], ids=['hub_unreachable', 'hub_offline'])
def test_demo_tries_the_hub_unless_offline_then_falls_back_loudly_and_finishes(tmp_path, offline):
    result = run_demo(tmp_path, offline)
    assert result.returncode == 0, result.stderr[-3000:]
    if offline:
        assert 'only from the local cache' in result.stdout
        assert 'HF_HUB_OFFLINE is set' in result.stderr and 'HF_HUB_OFFLINE=1 and they are not in the cache' in result.stderr
    else:
        assert 'fetching zysong212/DepthMaster from the hub' in result.stdout
        assert 'the hub could not be reached (ConnectError' in result.stderr   # the loader's reason
        assert 'the hub could not be reached' in result.stderr
    assert 'COULD NOT BE LOADED' in result.stderr and 'DEMO RAN WITH RANDOM WEIGHTS' in result.stderr
    assert str(tmp_path / 'hf_home') in result.stderr                # the cache it looked in is named
    # the summary says which weights ran; the output is the compressed bag
    out = tmp_path / 'demo_out'
    summary = json.loads((out / 'summary.json').read_text(encoding='utf-8'))
    assert_random_weights_said(result.stdout, summary['model']['weights'], out / 'tiny_model')
    assert summary['compression'] == 'zstd' and summary['recording']['mb_per_s'] > 0
    with open(out / 'depth.mcap', 'rb') as stream:
        mcap_summary = make_reader(stream).get_summary()
    assert {chunk.compression for chunk in mcap_summary.chunk_indexes} == {'zstd'}
    topics = {channel.topic for channel in mcap_summary.channels.values()}
    assert {'/camera/depth/image', '/camera/image_raw', '/lidar/points'} <= topics
    assert '/camera/depth_gt' not in topics and '/camera/depth/relative' not in topics
