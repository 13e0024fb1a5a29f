"""`depthmaster-ros bag IN OUT`: process a recorded rosbag2 offline with the node's pipeline and parameters.

Exit status: 0 done, 2 bad arguments or input, 3 the model could not be loaded (never replaced by
another model), 130 stopped by Ctrl-C (the output bag is still closed and readable).
"""
from collections.abc import Callable
import sys

from depthmaster_ros.commands.interrupt import StopOnSigint

from .errors import CommandError

STOP_MESSAGE = 'depthmaster-ros bag: stopping after this frame and closing the bag (Ctrl-C again to abort)'
EXIT_BAD_INPUT = 2
EXIT_MODEL_LOAD = 3
EXIT_INTERRUPTED = 130


def add_arguments(parser):
    parser.add_argument('input', metavar='IN', help='input rosbag2 (directory, .mcap or .db3)')
    parser.add_argument('output', metavar='OUT', help='output rosbag2: a .mcap or .db3 file, or a directory')
    add_run_arguments(parser)


def add_run_arguments(parser, contact_sheet=True):
    """Every flag but IN and OUT (`batch` takes the same ones, so both read a bag the same way; it writes no
    contact sheet, so it is offered only the flags it accepts)."""
    add_parameter_arguments(parser.add_argument_group('parameters (the node\'s YAML; the flags override it)'))
    topics = parser.add_argument_group('input topics (found automatically when unambiguous)')
    topics.add_argument('--image-topic')
    topics.add_argument('--camera-info-topic')
    topics.add_argument('--points-topic')
    topics.add_argument('--no-points', action='store_true', help='ignore point clouds')
    topics.add_argument('--gt-topic', help='ground-truth depth (32FC1 metres or 16UC1 mm) for AbsRel/delta1')
    selection = parser.add_argument_group('frames')
    selection.add_argument('--start', type=float, default=0.0, metavar='SEC', help='skip the first SEC seconds')
    selection.add_argument('--duration', type=float, metavar='SEC', help='process SEC seconds from --start')
    selection.add_argument('--every', type=int, default=1, metavar='N', help='process every Nth image')
    output = parser.add_argument_group('output')
    output.add_argument('--namespace', help='output topic namespace (default: the image topic\'s namespace)')
    output.add_argument('--storage', choices=('mcap', 'sqlite3'), help='default: from OUT\'s suffix, else mcap')
    output.add_argument('--compression', choices=('none', 'lz4', 'zstd'),
                        help='mcap: chunk compression (default zstd); sqlite3 bag directory: zstd per message '
                             '(default) or none; a single .db3 file is always uncompressed')
    output.add_argument('--relative', choices=('all', 'unaligned'), default='unaligned',
                        help='depth/relative for every frame, or only for frames without depth/image '
                             '(default unaligned; publish_relative=false writes none)')
    output.add_argument('--copy-input', action='store_true',
                        help='copy the input topics so OUT replays alone (all but the ground truth)')
    output.add_argument('--copy-gt', action='store_true', help='with --copy-input, copy the ground truth too')
    output.add_argument('--force', action='store_true', help='replace an existing OUT')
    output.add_argument('--summary', metavar='FILE', help='also write the summary as JSON')
    if contact_sheet:
        output.add_argument('--contact-sheet', metavar='PNG', help='write a PNG of a few frames')
        output.add_argument('--contact-sheet-rows', type=int, default=4, metavar='N')
    else:
        parser.set_defaults(contact_sheet=None, contact_sheet_rows=4)
    output.add_argument('--label', default='', help='a note shown on the contact sheet and in the summary')
    output.add_argument('--no-progress', action='store_true', help='no progress bar')


def add_parameter_arguments(group, processing_res_help='longer edge fed to the model; 0 = native'):
    """--params and the flags that override it: what `config_from_args` reads (`evaluate` takes them too)."""
    from depthmaster_ros.model import backend_names
    group.add_argument('--params', metavar='FILE', help='ROS 2 params YAML, e.g. config/depthmaster.yaml')
    group.add_argument('--model', help='model directory or hub repo id')
    group.add_argument('--backend', choices=backend_names())
    group.add_argument('--device', help='auto, cpu or cuda')
    group.add_argument('--dtype', choices=('auto', 'fp32', 'fp16', 'bf16'))
    group.add_argument('--processing-res', type=int, metavar='N', help=processing_res_help)
    group.add_argument('--param', '-p', action='append', default=[], metavar='NAME=VALUE',
                       help='any other parameter, value in YAML syntax (repeatable), e.g. -p alignment_mode=ground_plane')


def config_from_args(args):
    """The params file (or the defaults) with the command-line overrides, as one validated Config."""
    import yaml

    from depthmaster_ros.config import Config, defaults, load_params_file

    params = load_params_file(args.params) if args.params else defaults()
    overrides = {'model': args.model, 'backend': args.backend, 'device': args.device, 'dtype': args.dtype,
                 'processing_res': args.processing_res}
    overrides = {name: value for name, value in overrides.items() if value is not None}
    for item in args.param:
        name, separator, text = item.partition('=')
        if not separator or not name.strip():
            raise CommandError(f'--param {item!r}: expected NAME=VALUE')
        try:
            overrides[name.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise CommandError(f'--param {name}: value {text!r} is not valid YAML ({error})') from None
    return Config.from_params({**params, **overrides})


def options_from_args(args):
    from depthmaster_ros.bag import BagOptions
    return BagOptions(
        image_topic=args.image_topic, camera_info_topic=args.camera_info_topic, points_topic=args.points_topic,
        use_points=not args.no_points, gt_topic=args.gt_topic, namespace=args.namespace, storage=args.storage,
        compression=args.compression, relative=args.relative, copy_gt=args.copy_gt,
        copy_input=args.copy_input, start_s=args.start, duration_s=args.duration, every=args.every,
        force=args.force, contact_sheet=args.contact_sheet, contact_sheet_rows=args.contact_sheet_rows,
        label=args.label, progress=not args.no_progress)


def write_json(path, data):
    """The --summary file: indented JSON, parent folders created; written beside it and renamed into place,
    so a link planted at the path is replaced, never followed."""
    import json
    import os
    from pathlib import Path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.parent / f'.{path.name}.partial-{os.getpid()}'
    staged.unlink(missing_ok=True)
    staged.write_text(json.dumps(data, indent=2, ensure_ascii=False) + '\n', encoding='utf-8')
    staged.replace(path)


def failure_reporter(command: str) -> Callable[[int, object], int]:
    """`fail(code, message)` for a subcommand: the message on stderr under the command's name, then its exit code."""
    def fail(code: int, message: object) -> int:
        print(f'depthmaster-ros {command}: {message}', file=sys.stderr)
        return code
    return fail


def run(args):
    fail = failure_reporter('bag')
    try:
        config = config_from_args(args)
        options = options_from_args(args)
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)

    from depthmaster_ros.bag import format_summary, process_bag
    from depthmaster_ros.model import ModelLoadError
    from depthmaster_ros.pipeline import load_configured_estimator

    try:
        with StopOnSigint(STOP_MESSAGE) as stop:
            summary = process_bag(args.input, args.output, lambda: load_configured_estimator(config.model), config,
                                  options, stop_requested=stop.requested)
    except ModelLoadError as error:
        return fail(EXIT_MODEL_LOAD, f'cannot load the model: {error}')
    except ValueError as error:
        return fail(EXIT_BAD_INPUT, error)
    print(format_summary(summary))
    if args.summary:
        write_json(args.summary, summary.as_json())
    return EXIT_INTERRUPTED if summary.interrupted else 0

