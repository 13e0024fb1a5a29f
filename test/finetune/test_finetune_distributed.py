"""The training executors: a toy loop on one local process and on two Ray Train workers (DDP over gloo).

Two workers at batch B take the samples of one worker at batch 2B and average their gradients, so they end
with the same weights; the local executor never imports Ray."""
import os
from pathlib import Path
import subprocess
import sys

import pytest
import torch

from depthmaster_ros.finetune import FinetuneError, is_main, prepare_model, report, run_training, worker_context

SAMPLES = 48


def toy_loop(config):
    """A small regression trained with momentum SGD; rank r takes items r::world of each global batch."""
    context = worker_context()
    torch.manual_seed(config.get('seed', 0))
    model = prepare_model(torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(SAMPLES, 6, generator=generator)
    targets = torch.sin(inputs @ torch.linspace(-1, 1, 6)).unsqueeze(1)
    global_batch = config['batch'] * context.world_size
    for step in range(config['steps']):
        positions = (step * global_batch + torch.arange(global_batch)) % SAMPLES
        mine = positions[context.rank::context.world_size]
        loss = torch.nn.functional.mse_loss(model(inputs[mine]), targets[mine])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if config.get('fail_at') == step and context.rank == context.world_size - 1:
            raise RuntimeError(f'toy failure at step {step}')
        report({'step': step, 'loss': loss.item(), 'world_size': context.world_size,
                'threads': torch.get_num_threads()})
    if is_main():
        weights = getattr(model, 'module', model).state_dict()
        torch.save(weights, Path(config['out']) / 'weights.pt')


def test_the_local_executor_runs_the_loop_in_this_process(tmp_path):
    outcome = run_training(toy_loop, {'batch': 8, 'steps': 3, 'out': str(tmp_path)})
    assert outcome.executor == 'local' and outcome.workers == 1
    assert [r['step'] for r in outcome.reports] == [0, 1, 2]
    assert {r['world_size'] for r in outcome.reports} == {1}
    assert (tmp_path / 'weights.pt').exists() and not (tmp_path / 'ray_train').exists()
    assert worker_context().rank == 0 and worker_context().world_size == 1     # outside a run: the lone worker


def test_options_that_cannot_run_are_refused(tmp_path):
    with pytest.raises(FinetuneError, match='--workers 2: the local executor runs one process'):
        run_training(toy_loop, {'batch': 1, 'steps': 1, 'out': str(tmp_path)}, workers=2)
    with pytest.raises(FinetuneError, match="--executor: one of local, ray, got 'slurm'"):
        run_training(toy_loop, {}, executor='slurm')
    with pytest.raises(FinetuneError, match='--workers: must be at least 1'):
        run_training(toy_loop, {}, executor='ray', workers=0)
    with pytest.raises(FinetuneError, match="output folder"):
        run_training(toy_loop, {}, executor='ray', workers=1)


def test_the_local_executor_needs_no_ray(tmp_path):
    """In a fresh interpreter: a local run leaves Ray unimported (nor does importing the package load torch)."""
    script = (
        'import sys, torch\n'
        'import depthmaster_ros.finetune as finetune\n'
        'def loop(config):\n'
        '    model = finetune.prepare_model(torch.nn.Linear(2, 1))\n'
        '    finetune.report({"device": str(finetune.worker_context().device), "main": finetune.is_main()})\n'
        'outcome = finetune.run_training(loop, {})\n'
        'assert outcome.reports == [{"device": "cpu", "main": True}], outcome.reports\n'
        'assert not [name for name in sys.modules if name == "ray" or name.startswith("ray.")]\n'
        'print("ok")\n')
    light = ('import sys, depthmaster_ros.finetune\n'
             'assert "torch" not in sys.modules and "ray" not in sys.modules\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for code in (script, light):
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env, cwd=tmp_path,
                              timeout=120)
        assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_two_ray_workers_follow_one_worker_with_twice_the_batch(local_ray, tmp_path):
    local_ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import this module
    one, two = tmp_path / 'one', tmp_path / 'two'
    one.mkdir()
    two.mkdir()
    steps = 12
    single = run_training(toy_loop, {'batch': 8, 'steps': steps, 'out': str(one)})
    pair = run_training(toy_loop, {'batch': 4, 'steps': steps, 'out': str(two)}, executor='ray', workers=2)

    assert pair.executor == 'ray' and [r['step'] for r in pair.reports] == list(range(steps))
    assert {r['world_size'] for r in pair.reports} == {2}
    assert {r['threads'] for r in pair.reports} == {1}            # two CPUs shared by two workers
    assert pair.storage == (two / 'ray_train').resolve() and any(pair.storage.iterdir())
    reference, distributed = torch.load(one / 'weights.pt'), torch.load(two / 'weights.pt')
    assert reference.keys() == distributed.keys()
    for name, value in reference.items():
        torch.testing.assert_close(distributed[name], value, atol=1e-5, rtol=0, msg=name)
    # the trajectory moved: the comparison is not between two untrained models
    initial = torch.nn.Linear(6, 16)
    assert not torch.allclose(reference['0.weight'], initial.weight)
    assert single.reports[-1]['loss'] < single.reports[0]['loss']


@pytest.mark.slow
def test_a_failing_worker_fails_the_run_with_its_own_error(local_ray, tmp_path):
    local_ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with pytest.raises(FinetuneError, match='toy failure at step 1'):
        run_training(toy_loop, {'batch': 2, 'steps': 3, 'out': str(tmp_path), 'fail_at': 1}, executor='ray',
                     workers=2)
    with pytest.raises(FinetuneError, match='the Ray cluster has 2 CPUs'):
        run_training(toy_loop, {'batch': 2, 'steps': 1, 'out': str(tmp_path)}, executor='ray', workers=3)
