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
import shutil
import sys
import tempfile

TARGETS = {'street_after_over_before': 0.7, 'room_change': 0.10, 'oracle_gain_share': 0.70, 'ray_2_over_1': 1.6}
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
    started, cpu_started = time.perf_counter(), time.process_time()
    for step in range(TOY_WARMUP_STEPS + config['steps']):
        if step == TOY_WARMUP_STEPS:
            started, cpu_started = time.perf_counter(), time.process_time()
        loss = torch.nn.functional.mse_loss(model(images), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    seconds = time.perf_counter() - started
    # cores this worker kept busy (its process CPU time over the wall time): 1 for a one-thread worker
    report({'seconds': seconds, 'cores_used': (time.process_time() - cpu_started) / seconds,
            'threads': torch.get_num_threads(),
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
                         'cores_used_by_main_worker': last['cores_used'],
                         'load_average_1min': os.getloadavg()[0]}     # other work on the machine skews the row
        print(f"ray workers {workers}: {runs[workers]['images_per_s']:.1f} images/s "
              f"({last['threads']} torch threads each; the main worker kept {last['cores_used']:.2f} cores busy)",
              flush=True)
    return {'loop': f'toy convolutions, {TOY_SIZE}x{TOY_SIZE}, batch {args.batch} per worker, {args.steps} timed steps',
            'cpus_per_worker': per_worker, 'runs': runs, 'ratio': runs[2]['images_per_s'] / runs[1]['images_per_s']}


def domain_bags(args, work):
    """{scene: {'train': bag, 'val': bag}}: the synthetic rooms and streets, training and held-out recordings."""
    from depthmaster_ros.synthetic import write_sample_bag
    bags = {}
    for scene in ('room', 'street'):
        for part, seed, frames in (('train', 1, args.frames), ('val', 2, args.val_frames)):
            path = work / 'bags' / f'{scene}_{part}.mcap'
            write_sample_bag(path, frames=frames, width=args.width, height=args.height, seed=seed, scene=scene,
                             lidar_beams=16, force=True)   # a kept --work folder gets the same bytes again
            bags.setdefault(scene, {})[part] = path
    return bags


def domain_store(bags, directory):
    """(store, train positions, held-out positions) of one domain: its held-out recording is the validation split."""
    from depthmaster_ros.config import Config
    from depthmaster_ros.finetune import build_frame_store, split_frames
    store = build_frame_store([bags['train'], bags['val']], directory, Config.from_params({}))
    split = split_frames(store, val_inputs=[str(bags['val'])])
    return store, [int(i) for i in split.train], [int(i) for i in split.val]


def finetune(args, store, train, val, base, out, *, supervision, lora_rank, steps):
    """One run of the training loop (local executor); returns its manifest's validation history."""
    from depthmaster_ros.finetune import run_training, train_loop
    config = {'out': str(out), 'base': str(base), 'store': str(store.directory), 'train': train, 'val': val,
              'res': args.res, 'batch': args.train_batch, 'steps': steps, 'lr': args.lr, 'lora_rank': lora_rank,
              'supervision': supervision, 'seed': 0, 'checkpoint_every': steps, 'validate_every': steps}
    run_training(train_loop, config)
    return json.loads((Path(out) / 'finetune_manifest.json').read_text())['validation']


def held_out_rmse(model_dir, store, positions, res):
    """Metres against held-out LiDAR (the validation protocol) of the model in `model_dir` on these frames."""
    from depthmaster_ros.finetune import TrainableDepthMaster, held_out_scores
    from depthmaster_ros.model import load_depthmaster_parts
    return held_out_scores(TrainableDepthMaster(load_depthmaster_parts(model_dir)), [store[i] for i in positions], res)


def domains(args, work):
    """The base (fitted on rooms with dense ground truth), then fine-tuned on streets with LiDAR and with the oracle."""
    from depthmaster_ros.model import write_tiny_model
    bags = domain_bags(args, work)
    rooms, streets = domain_store(bags['room'], work / 'room_store'), domain_store(bags['street'], work / 'street_store')
    base_run = work / f'base_{args.base_steps}'
    if not (base_run / 'model').is_dir():        # a kept --work folder keeps its base
        print(f'fitting the base on rooms (dense ground truth, whole UNet, {args.base_steps} steps) ...', flush=True)
        finetune(args, *rooms, write_tiny_model(work / 'random', seed=0), base_run, supervision='dense',
                 lora_rank=None, steps=args.base_steps)
    base = base_run / 'model'
    histories = {}
    for supervision in ('lidar', 'dense'):
        print(f'fine-tuning on streets ({supervision}, LoRA rank {args.lora_rank}, {args.steps_ft} steps) ...', flush=True)
        out = work / f'street_{supervision}_{args.steps_ft}'
        shutil.rmtree(out, ignore_errors=True)
        histories[supervision] = finetune(args, *streets, base, out, supervision=supervision,
                                          lora_rank=args.lora_rank, steps=args.steps_ft)
    before, after = histories['lidar'][0]['rmse_m'], histories['lidar'][-1]['rmse_m']
    oracle = histories['dense'][-1]['rmse_m']
    room_before = held_out_rmse(base, rooms[0], rooms[2], args.res)
    room_after = held_out_rmse(work / f'street_lidar_{args.steps_ft}' / 'model', rooms[0], rooms[2], args.res)
    return {'street': {'before_rmse_m': before, 'lidar_rmse_m': after, 'oracle_rmse_m': oracle,
                       'history': histories},
            'room': {'before': room_before, 'after': room_after},
            'street_after_over_before': after / before,
            'room_change': room_after['rmse_m'] / room_before['rmse_m'] - 1,
            'oracle_gain_share': (before - after) / (before - oracle) if before != oracle else float('nan')}


def rows(results):
    """(row, measured, target, PASS/FAIL) for the table."""
    table = []
    if 'domains' in results:
        found = results['domains']
        for key, name, sign in (('street_after_over_before', 'street held-out RMSE after / before', '<='),
                                ('room_change', 'room held-out RMSE change', '<='),
                                ('oracle_gain_share', 'LiDAR gain / dense-oracle gain', '>=')):
            ok = found[key] <= TARGETS[key] if sign == '<=' else found[key] >= TARGETS[key]
            table.append((name, found[key], f'{sign} {TARGETS[key]}', 'PASS' if ok else 'FAIL'))
    if 'throughput' in results:
        ratio = results['throughput']['ratio']
        table.append(('2 vs 1 Ray workers throughput', ratio, f">= {TARGETS['ray_2_over_1']}",
                      'PASS' if ratio >= TARGETS['ray_2_over_1'] else 'FAIL'))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rows', default='domains,throughput', help='which parts run: domains, throughput')
    parser.add_argument('--frames', type=int, default=16, help='frames of each training recording')
    parser.add_argument('--val-frames', type=int, default=6, help='frames of each held-out recording')
    parser.add_argument('--width', type=int, default=96)
    parser.add_argument('--height', type=int, default=72)
    parser.add_argument('--res', type=int, default=64, help='processing size of training and validation')
    parser.add_argument('--train-batch', type=int, default=4)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--base-steps', type=int, default=200, help='steps fitting the base on rooms')
    parser.add_argument('--steps-ft', type=int, default=80, help='fine-tuning steps on streets')
    parser.add_argument('--lora-rank', type=int, default=8)
    parser.add_argument('--batch', type=int, default=8, help='toy loop: batch per worker')
    parser.add_argument('--steps', type=int, default=200, help='toy loop: timed steps')
    parser.add_argument('--cpus-per-worker', type=int, help='throughput: CPUs of each Ray worker (default: half the machine)')
    parser.add_argument('--json', help='write the results here')
    parser.add_argument('--work', help='keep the bags, stores and runs in this folder (default: a temporary one)')
    args = parser.parse_args(argv)
    results = {}
    with contextlib.ExitStack() as stack:
        work = Path(args.work or stack.enter_context(tempfile.TemporaryDirectory(prefix='finetune_bench_')))
        parts = args.rows.split(',')
        if 'domains' in parts:
            results['domains'] = domains(args, work)
        if 'throughput' in parts:
            results['throughput'] = throughput(args, work)
    print(f"{'row':<34}{'measured':>10}  target")
    for name, measured, target, status in rows(results):
        print(f'{name:<34}{measured:>10.3f}  {target:<8} {status}')
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
