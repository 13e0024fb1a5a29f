"""tools/demo.sh (what `make demo` runs) on a tiny, short sample: the loud fallback and a loadable model."""
import json
import os
from pathlib import Path
import subprocess
import sys

from rosbags.rosbag2 import Reader

REPO = Path(__file__).resolve().parents[2]
FALLBACK_LABEL = 'random weights — depth meaningless, pipeline only'


def run_demo(out_dir, model='', **env):
    environment = {**os.environ, 'PYTHON': sys.executable, 'DEMO_OUT': str(out_dir), 'DEMO_FRAMES': '3',
                   'DEMO_WIDTH': '96', 'DEMO_HEIGHT': '72', 'HF_HUB_OFFLINE': '1', 'OMP_NUM_THREADS': '1', **env}
    return subprocess.run(['bash', str(REPO / 'tools' / 'demo.sh'), '', str(model)], cwd=REPO, env=environment,
                          capture_output=True, text=True, timeout=600)


def topic_counts(path):
    with Reader(path) as reader:
        return {name: info.msgcount for name, info in reader.topics.items()}


def test_unloadable_weights_fall_back_loudly_and_label_every_output(tmp_path):
    out = tmp_path / 'demo_out'
    result = run_demo(out, DEMO_PROCESSING_RES='64', DEMO_EVERY='1')   # default model: a hub id in no cache here
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'COULD NOT BE LOADED' in result.stderr and FALLBACK_LABEL in result.stderr
    assert 'cannot load the model' in result.stderr      # the loader's own reason is shown first
    summary = json.loads((out / 'summary.json').read_text(encoding='utf-8'))
    assert summary['label'] == FALLBACK_LABEL
    assert summary['model']['model'] == str(out / 'tiny_model')
    assert summary['frames']['out'] == 3
    assert summary['ground_truth']['frames'] == 3 and 'abs_rel' in summary['ground_truth']
    assert (out / 'tiny_model' / 'model_index.json').is_file()
    assert (out / 'contact_sheet.png').stat().st_size > 1000
    counts = topic_counts(out / 'depth.mcap')
    assert counts['/camera/depth/image'] == counts['/camera/image_raw'] == 3     # outputs and copied inputs


def test_a_loadable_model_runs_without_the_fallback(tmp_path, tiny_model_dir):
    out = tmp_path / 'demo_out'
    result = run_demo(out, model=tiny_model_dir, DEMO_PROCESSING_RES='64', DEMO_EVERY='2')
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'COULD NOT BE LOADED' not in result.stderr
    summary = json.loads((out / 'summary.json').read_text(encoding='utf-8'))
    assert summary['label'] == '' and summary['model']['model'] == str(tiny_model_dir)
    assert summary['frames']['in'] == 3 and summary['frames']['out'] == 2        # DEMO_EVERY=2
    assert not (out / 'tiny_model').exists()
    again = run_demo(out, model=tiny_model_dir, DEMO_PROCESSING_RES='64', DEMO_EVERY='3')
    assert again.returncode == 0, again.stderr[-3000:]                          # reuses the sample, replaces outputs
    assert json.loads((out / 'summary.json').read_text(encoding='utf-8'))['frames']['out'] == 1


def test_a_missing_bag_given_by_the_user_is_an_error(tmp_path):
    environment = {**os.environ, 'PYTHON': sys.executable, 'DEMO_OUT': str(tmp_path / 'demo_out')}
    result = subprocess.run(['bash', str(REPO / 'tools' / 'demo.sh'), str(tmp_path / 'nope.mcap'), ''], cwd=REPO,
                            env=environment, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and 'does not exist' in result.stderr
