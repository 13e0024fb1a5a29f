"""`depthmaster-ros batch INPUTS... --out DIR`: many bags, resumable, locally or on a Ray cluster.

Each bag is processed exactly as `depthmaster-ros bag` would (same flags, same output messages);
``DIR/manifest.jsonl`` records every bag, and a rerun only does what is not done with the same
parameters and model. Exit status: 0 every bag done, 1 some bag failed (see the manifest), 2 bad
arguments, 3 the model could not be loaded, 130 stopped by Ctrl-C before every bag was done.
"""
import sys

from depthmaster_ros.commands.interrupt import StopOnSigint

from .errors import CommandError

STOP_MESSAGE = 'depthmaster-ros batch: finishing the bags in progress (Ctrl-C again to abort them)'
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_MODEL_LOAD = 3
EXIT_INTERRUPTED = 130


def add_arguments(parser):
    from depthmaster_ros.commands.bag import add_run_arguments
    parser.add_argument('inputs', metavar='INPUTS', nargs='+',
                        help='bags (.mcap, .db3, bag directories), directories holding bags, or globs')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='output directory: one bag per input under its name, plus manifest.jsonl')
    fleet = parser.add_argument_group('batch execution', 'with --force every bag is redone, even those the '
                                      'manifest lists as done')
    fleet.add_argument('--executor', choices=('local', 'ray'), default='local',
                       help='local: in this process, one bag after another; ray: a pool of Ray actors')
    fleet.add_argument('--ray-address', metavar='ADDR', help='an existing Ray cluster (default: start a local one)')
    fleet.add_argument('--workers', type=int, metavar='N',
                       help='Ray actors (default: one per GPU, else one per CPU Ray offers)')
    fleet.add_argument('--ray-dashboard', action='store_true',
                       help='start the dashboard of the local Ray instance, on 127.0.0.1 (default: off)')
    fleet.add_argument('--retries', type=int, default=2, metavar='N',
                       help='times a bag is retried after its worker died (default 2)')
    add_run_arguments(parser, contact_sheet=False)


def make_executor(args, config, options):
    """The executor factory run_batch calls with the run hash."""
    if args.executor == 'ray':
        from depthmaster_ros.fleet import RayExecutor
        return lambda hashes: RayExecutor(config, options, hashes, workers=args.workers, address=args.ray_address,
                                          retries=args.retries, dashboard=args.ray_dashboard)
    if args.workers not in (None, 1) or args.ray_address or args.ray_dashboard:
        raise CommandError('--workers/--ray-address/--ray-dashboard: only with --executor ray (local runs one bag at '
                         'a time)')
    from depthmaster_ros.fleet import LocalExecutor
    return lambda hashes: LocalExecutor(config, options, hashes)


def format_result(result, weights) -> str:
    from depthmaster_ros.model import weights_line
    done = len(result.records) - len(result.failed)
    lines = [weights_line(weights)]
    lines += [f'{len(result.records) + len(result.skipped)} bags: {done} done now, {len(result.skipped)} already '
              f'done (same parameters and model), {len(result.failed)} failed; {result.frames_out} frames in '
              f'{result.wall_s:.1f} s' + (f' ({result.frames_out / result.wall_s:.2f} frames/s)' if result.wall_s else '')]
    for name in result.failed:
        lines.append(f'  failed {name}: {result.records[name].reason or result.records[name].status}')
    lines.append(f'manifest: {result.manifest}  (run hash {result.run_hash["run"][:12]})')
    return '\n'.join(lines)


def run(args):
    from depthmaster_ros.commands.bag import (
        config_from_args,
        failure_reporter,
        options_from_args,
        write_json,
    )
    fail = failure_reporter('batch')

    from depthmaster_ros.fleet import discover
    try:
        config = config_from_args(args)
        options = options_from_args(args)
        options.check()
        jobs = discover(args.inputs, args.out, options.storage)
        executor = make_executor(args, config, options)
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)
    from depthmaster_ros.model import RANDOM_WEIGHTS_BANNER, describe_weights
    weights = describe_weights(config.model.model)
    if weights['random']:
        print(f'depthmaster-ros batch: {RANDOM_WEIGHTS_BANNER}', file=sys.stderr, flush=True)

    from depthmaster_ros.fleet import WorkerStartError, run_batch
    from depthmaster_ros.model import ModelLoadError
    try:
        with StopOnSigint(STOP_MESSAGE) as stop:
            result = run_batch(jobs, args.out, config, options, executor, redo=args.force,
                               progress=not args.no_progress, stop_requested=stop.requested)
    except (ModelLoadError, WorkerStartError) as error:
        return fail(EXIT_MODEL_LOAD, f'cannot load the model: {error}')
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)
    print(format_result(result, weights))
    if args.summary:
        write_json(args.summary, {'manifest': result.manifest, 'run_hash': result.run_hash, 'weights': weights,
                                  'skipped': result.skipped,
                                  'records': {name: record.as_json() for name, record in result.records.items()},
                                  'wall_s': result.wall_s, 'workers': result.workers})
    if len(result.records) + len(result.skipped) < len(jobs):
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if result.failed else 0
