"""THE test of fine-tuning: a tiny model first fitted with dense ground truth on rooms, then fine-tuned with
LiDAR only on streets, measures streets better in metres (held-out LiDAR, the node's alignment) while the
rooms it knew degrade little. 64 px, a few hundred CPU steps in all."""
import json

import pytest

from depthmaster_ros.config import Config, defaults
from depthmaster_ros.finetune import (
    MANIFEST_NAME,
    TrainableDepthMaster,
    build_frame_store,
    held_out_scores,
    split_frames,
    train_loop,
)
from depthmaster_ros.model import load_depthmaster_parts
from depthmaster_ros.synthetic import write_sample_bag

RES = 64
BASE_STEPS = 200            # dense supervision on rooms: the "official" model of this test
FINETUNE_STEPS = 60         # LiDAR only on streets, LoRA rank 8
FRAMES = 40                 # per domain, over the scene's whole 20 s path


def domain(tmp_path_factory, scene, seed):
    folder = tmp_path_factory.mktemp(f'finetune_{scene}')
    bag = folder / f'{scene}.mcap'
    write_sample_bag(bag, frames=FRAMES, rate_hz=FRAMES / 20, width=RES, height=RES * 3 // 4, seed=seed, scene=scene,
                     lidar_beams=16, lidar_range_noise=0.01)
    store = build_frame_store([bag], folder / 'frames', Config.from_params(defaults()))
    return store, split_frames(store, val_share=0.2)


def run_config(out, base, store, split, **changes):
    return {'out': str(out), 'base': str(base), 'store': str(store.directory), 'train': [int(i) for i in split.train],
            'val': [int(i) for i in split.val], 'res': RES, 'batch': 4, 'lr': 1e-3, **changes}


@pytest.fixture(scope='session')
def rooms(tmp_path_factory):
    return domain(tmp_path_factory, 'room', seed=0)


@pytest.fixture(scope='session')
def streets(tmp_path_factory):
    return domain(tmp_path_factory, 'street', seed=1)


@pytest.fixture(scope='session')
def room_model(tiny_model_dir, rooms, tmp_path_factory):
    """The tiny model fitted to rooms with dense ground truth (the whole UNet), trained once per session."""
    out = tmp_path_factory.mktemp('room_model')
    store, split = rooms
    train_loop(run_config(out, tiny_model_dir, store, split, steps=BASE_STEPS, lora_rank=None, supervision='dense',
                          validate_every=BASE_STEPS, checkpoint_every=BASE_STEPS))
    return out / 'model'


def held_out_metres(model_dir, data):
    store, split = data
    model = TrainableDepthMaster(load_depthmaster_parts(model_dir))
    return held_out_scores(model, [store[int(i)] for i in split.val], RES)


def test_lidar_fine_tuning_improves_the_new_domain_and_keeps_the_old(room_model, rooms, streets, tmp_path):
    store, split = streets
    out = tmp_path / 'streets'
    train_loop(run_config(out, room_model, store, split, steps=FINETUNE_STEPS, lora_rank=8, supervision='lidar',
                          validate_every=FINETUNE_STEPS, checkpoint_every=FINETUNE_STEPS))
    history = json.loads((out / MANIFEST_NAME).read_text())['validation']
    before, after = history[0], history[-1]
    assert (before['step'], after['step']) == (0, FINETUNE_STEPS)
    assert before['frames'] == after['frames'] == len(split.val)
    # measured: held-out LiDAR rmse 10.8 -> 7.4 m (0.69), dense ground truth 14.7 -> 12.3 m (0.83)
    assert after['rmse_m'] <= 0.8 * before['rmse_m'], history
    assert after['dense_rmse_m'] <= 0.92 * before['dense_rmse_m'], history

    # measured: rooms' dense rmse 1.681 -> 1.683 m
    rooms_before, rooms_after = held_out_metres(room_model, rooms), held_out_metres(out / 'model', rooms)
    assert rooms_after['dense_rmse_m'] <= 1.1 * rooms_before['dense_rmse_m'], (rooms_before, rooms_after)
