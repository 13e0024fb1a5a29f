#!/usr/bin/env python3
"""Fine-tuning benchmark (`make bench-finetune`, CPU, tiny models): the targets of the finetune command.

Rows (targets in TARGETS):
  street after / before   held-out street RMSE (metres, the node's alignment against held-out LiDAR) after
                          fine-tuning with LiDAR only, over the base model's;
  room change             the same on held-out rooms, the domain the base was fitted on (how much it degrades);
  oracle gain share       the street gain of LiDAR-only supervision over that of dense ground truth (oracle);
  2 vs 1 Ray workers      training throughput (images/s) of two Ray workers over one, each worker's batch the same.

The throughput row runs a small convolutional toy loop through `finetune.distributed.run_training` on a
local Ray instance: each worker gets the same CPUs in both runs (half the machine by default), as each
gets one GPU on a GPU cluster, so the row is the data-parallel scaling of the training executor (its
gradient all-reduce and step synchronisation), not the threading of one process.

    .venv/bin/python benchmarks/finetune_bench.py --json bench_out/finetune.json
"""
import argparse
import contextlib
import json
import os
from pathlib import Path
import sys
import tempfile

TARGETS = {'ray_2_over_1': 1.6}
TOY_SIZE = 64           # toy images are TOY_SIZE x TOY_SIZE
TOY_WARMUP_STEPS = 2


def toy_loop(config):
    """A few convolutions trained on fixed random images; the main rank reports the timed steps' wall time."""
    import time

    import torch

    from depthmaster_ros.finetune import prepare_model, report, worker_context
    context = worker_context()
    torch.manual_seed(0)
    layers = [torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(32, 32, 3, padding=1),
              torch.nn.SiLU(), torch.nn.Conv2d(32, 1, 3, padding=1)]
    model = prepare_model(torch.nn.Sequential(*layers))
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(context.rank)
    images = torch.rand(config['batch'], 3, TOY_SIZE, TOY_SIZE, generator=generator)
    target = torch.rand(config['batch'], 1, TOY_SIZE, TOY_SIZE, generator=generator)
    started = time.perf_counter()
    for step in range(TOY_WARMUP_STEPS + config['steps']):
        if step == TOY_WARMUP_STEPS:
            started = time.perf_counter()
        loss = torch.nn.functional.mse_loss(model(images), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    report({'seconds': time.perf_counter() - started, 'threads': torch.get_num_threads(),
            'images': config['steps'] * config['batch'] * context.world_size})


def throughput(args, work):
    """Images/s of the toy loop on 1 and on 2 Ray workers (same batch and CPUs per worker), and their ratio."""
    import ray

    from depthmaster_ros.finetune import run_training
    from depthmaster_ros.fleet import connect_ray
    per_worker = args.cpus_per_worker or max(1, (os.cpu_count() or 2) // 2)
    runs = {}
    for workers in (1, 2):
        with contextlib.ExitStack() as environment:
            # one local instance per run, sized to its workers: each worker gets the same CPUs in both runs
            connect_ray(None, workers * per_worker, False, environment)
            try:
                config = {'batch': args.batch, 'steps': args.steps, 'out': str(work / f'toy_{workers}')}
                outcome = run_training(toy_loop, config, executor='ray', workers=workers)
            finally:
                ray.shutdown()
        last = outcome.reports[-1]
        runs[workers] = {'images_per_s': last['images'] / last['seconds'], 'threads_per_worker': last['threads'],
                         'timed_s': last['seconds'], 'run_s': outcome.seconds,
                         'load_average_1min': os.getloadavg()[0]}     # other work on the machine skews the row
        print(f"ray workers {workers}: {runs[workers]['images_per_s']:.1f} images/s "
              f"({last['threads']} torch threads each)", flush=True)
    return {'loop': f'toy convolutions, {TOY_SIZE}x{TOY_SIZE}, batch {args.batch} per worker, {args.steps} timed steps',
            'cpus_per_worker': per_worker, 'runs': runs, 'ratio': runs[2]['images_per_s'] / runs[1]['images_per_s']}


def rows(results):
    """(row, measured, target, PASS/FAIL) for the table."""
    table = []
    if 'throughput' in results:
        ratio = results['throughput']['ratio']
        table.append(('2 vs 1 Ray workers throughput', ratio, f">= {TARGETS['ray_2_over_1']}",
                      'PASS' if ratio >= TARGETS['ray_2_over_1'] else 'FAIL'))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch', type=int, default=8, help='toy loop: batch per worker')
    parser.add_argument('--steps', type=int, default=30, help='toy loop: timed steps')
    parser.add_argument('--cpus-per-worker', type=int, help='throughput: CPUs of each Ray worker (default: half the machine)')
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory(prefix='finetune_bench_') as scratch:
        results['throughput'] = throughput(args, Path(scratch))
    print(f"{'row':<34}{'measured':>10}  target")
    for name, measured, target, status in rows(results):
        print(f'{name:<34}{measured:>10.3f}  {target:<8} {status}')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
