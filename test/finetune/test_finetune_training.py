"""The training loop end to end on the tiny model at 64 px: exact resume after Ctrl-C, and a run's outputs
load where the official weights load (`infer`, `bag`)."""
import json
import os
import signal
import threading
import time

from finetune_bags import domain_bag
import numpy as np
import pytest
import torch

from depthmaster_ros.cli import main
from depthmaster_ros.config import Config, defaults
from depthmaster_ros.finetune import (
    MANIFEST_NAME,
    TrainableDepthMaster,
    build_frame_store,
    configure_training,
    latest_checkpoint,
    split_frames,
    train_loop,
)
from depthmaster_ros.model import load_depthmaster_parts, load_estimator


@pytest.fixture(scope='module')
def street_bag(tmp_path_factory):
    return domain_bag(tmp_path_factory.mktemp('finetune_street') / 'street.mcap', 'street', frames=12, width=64,
                      height=48)


@pytest.fixture(scope='module')
def held_out_bag(tmp_path_factory):
    return domain_bag(tmp_path_factory.mktemp('finetune_street_val') / 'held.mcap', 'street', frames=4, width=64,
                      height=48, seed=1)


@pytest.fixture(scope='module')
def street_store(street_bag, tmp_path_factory):
    store = build_frame_store([street_bag], tmp_path_factory.mktemp('finetune_store') / 'frames',
                              Config.from_params(defaults()))
    return store, split_frames(store, val_share=0.2, block_s=0.4, guard_s=0.1)


def loop_config(out, base, store, split, **changes):
    return {'out': str(out), 'base': str(base), 'store': str(store.directory), 'train': [int(i) for i in split.train],
            'val': [int(i) for i in split.val], 'res': 64, 'batch': 2, 'steps': 8, 'lr': 1e-3, 'lora_rank': 2,
            'checkpoint_every': 2, 'validate_every': 4, **changes}


def interrupt_after_first_checkpoint(out):
    """Ctrl-C to this process once the run in `out` has written its first checkpoint."""
    def watch():
        deadline = time.monotonic() + 300
        while latest_checkpoint(out) is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def final_state(out):
    return torch.load(latest_checkpoint(out) / 'state.pt', weights_only=True)


def test_a_run_stopped_by_ctrl_c_and_resumed_ends_with_the_uninterrupted_weights(tiny_model_dir, street_store,
                                                                                   tmp_path):
    store, split = street_store
    train_loop(loop_config(tmp_path / 'whole', tiny_model_dir, store, split))

    stopped = tmp_path / 'stopped'
    watcher = interrupt_after_first_checkpoint(stopped)
    train_loop(loop_config(stopped, tiny_model_dir, store, split))
    watcher.join()
    manifest = json.loads((stopped / MANIFEST_NAME).read_text())
    assert not manifest['finished'] and 2 <= manifest['steps_done'] < 8
    assert not (stopped / 'model').exists()
    train_loop(loop_config(stopped, tiny_model_dir, store, split, resume=True))

    whole, resumed = final_state(tmp_path / 'whole'), final_state(stopped)
    assert whole['step'] == resumed['step'] == 8
    assert whole['trainable'].keys() == resumed['trainable'].keys()
    for name, value in whole['trainable'].items():
        assert torch.equal(value, resumed['trainable'][name]), name
    moved = [name for name, value in whole['trainable'].items() if 'lora_B' in name and value.abs().max() > 0]
    assert moved, 'the adapters did not train'
    history = json.loads((stopped / MANIFEST_NAME).read_text())['validation']
    assert history == json.loads((tmp_path / 'whole' / MANIFEST_NAME).read_text())['validation']
    assert [row['step'] for row in history] == [0, 4, 8]


def test_the_command_writes_a_model_that_infer_and_bag_load(tiny_model_dir, street_bag, held_out_bag, tmp_path):
    import cv2
    out = tmp_path / 'run'
    assert main(['finetune', str(street_bag), '--val', str(held_out_bag), '--out', str(out), '--base',
                 str(tiny_model_dir), '--steps', '2',
                 '--res', '64', '--batch', '2', '--lora-rank', '2', '--lr', '1e-3', '--no-progress']) == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest['finished'] and manifest['steps_done'] == 2 and len(manifest['base_model']['sha256']) == 64
    assert sorted(entry['name'] for entry in manifest['inputs']) == ['held.mcap', 'street.mcap']
    assert all(len(entry['sha256']) == 64 for entry in manifest['inputs'])
    assert (manifest['train_frames'], manifest['val_frames']) == (12, 4)
    assert [row['step'] for row in manifest['validation']] == [0, 1, 2]
    assert all(np.isfinite(row['rmse_m']) and row['frames'] > 0 for row in manifest['validation'])
    assert {path.name for path in (out / 'adapter').iterdir()} == {
        'adapter_config.json', 'adapter_model.safetensors', 'fourier.safetensors'}
    assert list((out / 'tensorboard').glob('events.out.tfevents.*'))

    # the exported weights are the trained ones: the official-layout loader gives the trained forward
    trained = TrainableDepthMaster(load_depthmaster_parts(tiny_model_dir))
    configure_training(trained, 2)
    trained.load_trainable_state(final_state(out)['trainable'])
    rgb = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = trained(torch.from_numpy(rgb)[None])[0].numpy()
    exported = load_estimator(model=str(out / 'model')).predict(rgb, processing_res=64).relative
    base = load_estimator(model=str(tiny_model_dir)).predict(rgb, processing_res=64).relative
    np.testing.assert_allclose(exported, expected, atol=1e-5)
    assert np.abs(exported - base).max() > 1e-4

    image = tmp_path / 'frame.png'
    cv2.imwrite(str(image), rgb[..., ::-1])
    assert main(['infer', str(image), '--model', str(out / 'model'), '-o', str(tmp_path / 'depth.npy'),
                 '--processing-res', '64']) == 0
    np.testing.assert_allclose(np.load(tmp_path / 'depth.npy'), exported, atol=1e-6)
    assert main(['bag', str(street_bag), str(tmp_path / 'out.mcap'), '--model', str(out / 'model'),
                 '--processing-res', '64', '--no-progress']) == 0
    assert (tmp_path / 'out.mcap').exists()


def test_the_command_refuses_to_overwrite_a_run_and_to_resume_nothing(tiny_model_dir, street_bag, tmp_path, capsys):
    args = [str(street_bag), '--base', str(tiny_model_dir), '--res', '64', '--no-progress']
    assert main(['finetune', *args, '--out', str(tmp_path / 'none'), '--resume']) == 2
    assert 'holds no checkpoint' in capsys.readouterr().err
    assert main(['finetune', *args, '--out', str(tmp_path / 'x'), '--executor', 'local', '--workers', '2']) == 2
    assert '--workers' in capsys.readouterr().err
