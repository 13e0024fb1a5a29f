"""`depthmaster-ros finetune INPUTS... --out DIR`: a model better at the fleet's own places, from its bags' LiDAR.

The bags are read once into a frame store (`DIR/frames`, with its data manifest), split into training
and validation frames (whole bags, or time blocks with a guard gap), and the model is trained on one
process (CPU, or one GPU with --use-gpu) or on Ray Train workers. DIR then holds `model/` (the merged
weights in the official layout: `--model DIR/model` everywhere), `adapter/`, `checkpoints/`,
`tensorboard/` and `finetune_manifest.json`. Ctrl-C writes a checkpoint and stops; `--resume`
continues. Exit status: 0 done, 2 bad arguments or inputs, 3 the base model could not be loaded,
130 stopped by Ctrl-C (a checkpoint was written).
"""
from pathlib import Path
import sys

from .errors import CommandError

EXIT_BAD_INPUT = 2
EXIT_MODEL_LOAD = 3
EXIT_INTERRUPTED = 130
DEFAULT_BASE = 'zysong212/DepthMaster'
EVERY_MAX = 500        # checkpoint and validation period: a tenth of the run, at most this many steps


def add_arguments(parser):
    parser.add_argument('inputs', metavar='INPUTS', nargs='+', help='bags, folders of bags or globs to train on')
    parser.add_argument('--out', required=True, metavar='DIR', help='the run folder (frames, checkpoints, model)')
    parser.add_argument('--base', default=DEFAULT_BASE, metavar='MODEL',
                        help=f'the model to start from: a directory or hub id (default {DEFAULT_BASE})')
    parser.add_argument('--params', metavar='FILE',
                        help="the node's params YAML: topics, LiDAR transform, depth range, occlusion filter")
    val = parser.add_mutually_exclusive_group()
    val.add_argument('--val', nargs='+', metavar='INPUTS', help='bags held out for validation')
    val.add_argument('--val-share', type=float, default=0.1, metavar='SHARE',
                     help='share of the frames held out (whole bags, else time blocks; default 0.1)')
    what = parser.add_mutually_exclusive_group()
    what.add_argument('--lora-rank', type=int, default=16, metavar='R', help='LoRA adapter rank (default 16)')
    what.add_argument('--full', action='store_true', help='train the whole UNet instead of adapters')
    parser.add_argument('--steps', type=int, default=2000, metavar='N', help='optimiser steps (default 2000)')
    parser.add_argument('--res', type=int, default=512, metavar='PX', help='processing size, long side (default 512)')
    parser.add_argument('--batch', type=int, default=2, metavar='B', help='images per worker per batch (default 2)')
    parser.add_argument('--grad-accum', type=int, default=1, metavar='K', help='batches per optimiser step')
    parser.add_argument('--lr', type=float, default=1e-4, metavar='X', help='learning rate (default 1e-4)')
    parser.add_argument('--executor', choices=('local', 'ray'), default='local')
    parser.add_argument('--workers', type=int, default=1, metavar='N', help='Ray Train workers (with --executor ray)')
    parser.add_argument('--use-gpu', action='store_true', help='train on CUDA (one GPU per worker), bf16')
    parser.add_argument('--ray-address', metavar='ADDR', help='an existing Ray cluster (default: start a local one)')
    parser.add_argument('--resume', action='store_true', help="continue from the run folder's last checkpoint")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def _every(steps: int) -> int:
    return max(1, min(EVERY_MAX, steps // 10))


def build_config(args, store, split, alignment) -> dict:
    """The training loop's config from the command line, the frame store and its split."""
    return {
        'out': str(Path(args.out).resolve()), 'base': args.base, 'store': str(store.directory),
        'train': [int(i) for i in split.train], 'val': [int(i) for i in split.val], 'split': split.as_json(),
        'res': args.res, 'batch': args.batch, 'grad_accum': args.grad_accum, 'lr': args.lr, 'steps': args.steps,
        'lora_rank': None if args.full else args.lora_rank, 'checkpoint_every': _every(args.steps),
        'validate_every': _every(args.steps), 'resume': args.resume, 'progress': not args.no_progress,
        'alignment': {'min_depth': alignment.min_depth, 'max_depth': alignment.max_depth,
                      'min_points': alignment.min_points, 'method': alignment.alignment_method},
        'workers': args.workers, 'executor': args.executor,
    }


def _check(args) -> None:
    if args.executor == 'local' and (args.workers != 1 or args.ray_address):
        raise CommandError('--workers/--ray-address: only with --executor ray (a local run is one process)')
    out = Path(args.out)
    from depthmaster_ros.finetune import latest_checkpoint
    if args.resume and latest_checkpoint(out) is None:
        raise CommandError(f'--resume: {out} holds no checkpoint; start without --resume')
    if not args.resume and latest_checkpoint(out) is not None:
        raise CommandError(f'{out}: holds checkpoints of an earlier run; pass --resume to continue it, '
                           'or choose another --out')


def run(args):
    from depthmaster_ros.commands.bag import failure_reporter
    fail = failure_reporter('finetune')
    from depthmaster_ros.config import Config, defaults, load_params_file
    from depthmaster_ros.finetune import build_frame_store, split_frames
    from depthmaster_ros.model import ModelLoadError
    try:
        _check(args)
        config = Config.from_params(load_params_file(args.params) if args.params else defaults())
        inputs = list(args.inputs) + list(args.val or [])
        out = Path(args.out)
        store = build_frame_store(inputs, out / 'frames', config,
                                  progress=None if args.no_progress else lambda text: print(text, file=sys.stderr))
        split = split_frames(store, val_inputs=args.val, val_share=args.val_share)
        train_config = build_config(args, store, split, config.alignment)
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)
    print(f'depthmaster-ros finetune: {len(split.train)} training and {len(split.val)} validation frames '
          f'({split.rule}) from {len(store.manifest["inputs"])} bag(s)', file=sys.stderr)

    from depthmaster_ros.finetune import run_training, train_loop
    try:
        outcome = run_training(train_loop, train_config, executor=args.executor, workers=args.workers,
                               use_gpu=args.use_gpu, ray_address=args.ray_address)
    except ModelLoadError as error:
        return fail(EXIT_MODEL_LOAD, f'cannot load the base model: {error}')
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)
    return _summary(out, outcome)


def _summary(out: Path, outcome) -> int:
    import json

    from depthmaster_ros.finetune import MANIFEST_NAME
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    history = manifest['validation']
    for row in (history[0], history[-1]) if len(history) > 1 else history:
        print(f"step {row['step']}: held-out rmse {row.get('rmse_m', float('nan')):.3f} m, "
              f"abs_rel {row.get('abs_rel', float('nan')):.3f} ({row.get('frames', 0)} frames)")
    if not manifest['finished']:
        print(f'stopped at step {manifest["steps_done"]}: continue with --resume', file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f'model: {out / manifest["outputs"]["model"]}  ({outcome.seconds:.0f} s, {manifest["steps_done"]} steps)')
    return 0
