"""The training loop itself (tiny model, LoRA, the LiDAR loss with preservation) as two Ray Train workers at
batch 1 against one local worker at batch 2 (the same samples per step, gradients averaged by DDP)."""
from finetune_bags import domain_bag
import pytest
from safetensors.torch import load_file
import torch

from depthmaster_ros.config import Config, defaults
from depthmaster_ros.finetune import build_frame_store, run_training, split_frames, train_loop

pytestmark = pytest.mark.slow
STEPS = 3


@pytest.fixture(scope='module')
def runs(local_ray, tiny_model_dir, tmp_path_factory):
    """(root, local outcome, Ray outcome): the same run on one local worker at batch 2 and two Ray workers at 1."""
    root = tmp_path_factory.mktemp('finetune_ray')
    bag = domain_bag(root / 'street.mcap', 'street', frames=8, width=64, height=48)
    store = build_frame_store([bag], root / 'frames', Config.from_params(defaults()))
    split = split_frames(store, val_share=0.2, block_s=0.4, guard_s=0.1)
    config = {'base': str(tiny_model_dir), 'store': str(store.directory), 'train': [int(i) for i in split.train],
              'val': [int(i) for i in split.val], 'res': 64, 'steps': STEPS, 'lr': 1e-3, 'lora_rank': 2,
              'checkpoint_every': STEPS, 'validate_every': STEPS}
    single = run_training(train_loop, {**config, 'out': str(root / 'one'), 'batch': 2})
    pair = run_training(train_loop, {**config, 'out': str(root / 'two'), 'batch': 1}, executor='ray', workers=2)
    return root, single, pair


def adapters(folder):
    return {name: load_file(folder / 'adapter' / name) for name in ('adapter_model.safetensors', 'fourier.safetensors')}


def test_the_training_loop_runs_on_two_ray_workers(runs):
    root, single, pair = runs
    assert [r['step'] for r in pair.reports] == [r['step'] for r in single.reports] == list(range(1, STEPS + 1))
    assert pair.reports[-1]['validation']['step'] == STEPS and 'checkpoint_dir' in pair.reports[-1]
    assert pair.storage == (root / 'two' / 'ray_train').resolve()
    trained = adapters(root / 'two')
    assert trained.keys() == adapters(root / 'one').keys()
    moved = [key for key, value in trained['adapter_model.safetensors'].items()
             if 'lora_B' in key and value.abs().sum() > 0]
    assert moved                                    # the gradients reached the adapters through DDP


@pytest.mark.xfail(reason='open: the training loop (AdamW, the robust fit\'s inlier selection) amplifies the order of '
                          'float sums: the same local run with 1 and with 2 torch threads ends as far apart after 3 '
                          'steps, so two workers (one thread each) cannot follow one to 1e-5; the toy loop (SGD) does',
                   strict=False)
def test_two_ray_workers_follow_one_worker_with_twice_the_batch(runs):
    root, _, _ = runs
    reference, distributed = adapters(root / 'one'), adapters(root / 'two')
    for name, tensors in reference.items():
        for key, value in tensors.items():
            torch.testing.assert_close(distributed[name][key], value, atol=1e-5, rtol=1e-4, msg=key)
