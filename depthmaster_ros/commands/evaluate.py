"""`depthmaster-ros evaluate --dataset NAME PATH`: the published depth tables, the sparse-depth
benchmarks with the project's alignment, and a robot's bag against held-out LiDAR (docs/evaluation.md).

Exit status: 0 done, 2 bad arguments or data, 3 the model could not be loaded.
"""
from .errors import CommandError

EXIT_BAD_INPUT = 2
EXIT_MODEL_LOAD = 3


def add_arguments(parser):
    from depthmaster_ros.commands.bag import add_parameter_arguments
    from depthmaster_ros.evaluation import PROTOCOLS, dataset_names
    parser.add_argument('--dataset', nargs=2, required=True, metavar=('NAME', 'PATH'),
                        help=f'one of {", ".join([*dataset_names(), "bag"])}, and its folder, tar file or bag')
    source = parser.add_argument_group('what is scored: a model (the node\'s YAML and flags), or maps made elsewhere')
    add_parameter_arguments(source, 'longer edge fed to the model; default 0 (native, as the published evaluation) '
                                    'for the zero-shot datasets, the params\' processing_res otherwise')
    source.add_argument('--predictions', metavar='DIR', help='score DIR/NAME.npy instead of running a model')
    source.add_argument('--space', choices=tuple(str(space) for space in PROTOCOLS.values()),
                        help='space of the --predictions maps (default: the backend\'s)')
    protocol = parser.add_argument_group('protocol')
    protocol.add_argument('--alignment', choices=tuple(PROTOCOLS),
                          help='zero-shot fit (default: the one in the prediction\'s space, e.g. '
                               'least_square_sqrt_disp for DepthMaster)')
    protocol.add_argument('--method', choices=('global', 'local'),
                          help='sparse datasets and bags: the alignment method (default: the params\')')
    protocol.add_argument('--points', type=int, metavar='N', help='void: 150, 500 or 1500; nyu: N sparse samples')
    protocol.add_argument('--split', metavar='FILE', help='the split list (default: the official one beside the data)')
    protocol.add_argument('--min-depth', type=float, help='folder: evaluated range (default 1e-3 m)')
    protocol.add_argument('--max-depth', type=float, help='folder: evaluated range (default none)')
    protocol.add_argument('--seed', type=int, default=0, help='seed of drawn sparse samples and held-out returns')
    protocol.add_argument('--holdout', default='lines:5',
                          help='bag: held-out LiDAR, lines:N (every Nth scan line) or a share (20%%); default lines:5')
    output = parser.add_argument_group('output')
    output.add_argument('--limit', type=int, metavar='N', help='only the first N images (frames of a bag)')
    output.add_argument('--json', metavar='FILE', help='also write the results as JSON')
    output.add_argument('--cache', metavar='DIR', default='.cache/evaluate',
                        help='where predictions are kept so a rerun resumes (default .cache/evaluate)')
    output.add_argument('--no-cache', action='store_true', help='keep no predictions')
    output.add_argument('--no-progress', action='store_true', help='no progress bar')


def run(args):
    import sys

    from depthmaster_ros.model import ModelLoadError

    try:
        return _evaluate(args)
    except ModelLoadError as error:
        print(f'depthmaster-ros evaluate: cannot load the model: {error}', file=sys.stderr)
        return EXIT_MODEL_LOAD
    except ValueError as error:
        print(f'depthmaster-ros evaluate: {error}', file=sys.stderr)
        return EXIT_BAD_INPUT


def _evaluate(args):
    from depthmaster_ros.commands.bag import config_from_args, write_json
    from depthmaster_ros.evaluation import DatasetOptions, open_dataset

    name, path = args.dataset
    if args.limit is not None and args.limit < 1:
        raise CommandError(f'--limit: must be at least 1, got {args.limit}')
    if name == 'bag':
        return _evaluate_bag(args, path)
    dataset = open_dataset(name, path, DatasetOptions(split=args.split, points=args.points, min_depth=args.min_depth,
                                                      max_depth=args.max_depth, seed=args.seed))
    config = config_from_args(args)
    predictions = _predictions(args, dataset, config)
    result = _score(args, dataset, config, predictions)
    print(_table(result, dataset, path))
    if args.json:
        write_json(args.json, result.as_json())
    return 0


def _predictions(args, dataset, config):
    from dataclasses import replace

    from depthmaster_ros.evaluation import FilePredictions, ModelPredictions, PredictionCache, backend_space, cache_folder
    from depthmaster_ros.pipeline import load_configured_estimator

    if args.predictions:
        return FilePredictions(args.predictions, args.space or backend_space(config.model.backend))
    processing_res = args.processing_res if args.processing_res is not None else (
        config.model.processing_res if dataset.sparse else 0)
    estimator = load_configured_estimator(replace(config.model, processing_res=processing_res))
    cache = None
    if not args.no_cache:
        identity = {'dataset': dataset.name, 'path': str(dataset.source.root.resolve()), 'points': args.points,
                    'backend': config.model.backend, 'model': config.model.model, 'dtype': str(estimator.dtype),
                    'processing_res': processing_res, 'space': estimator.space,
                    'options': sorted((k, str(v)) for k, v in vars(config.model).items())}
        cache = PredictionCache(cache_folder(args.cache, dataset.name, identity), identity)
    return ModelPredictions(estimator, processing_res, cache)


def _score(args, dataset, config, predictions):
    import sys

    from depthmaster_ros.evaluation import PROTOCOLS, evaluate, protocol_for_space, with_method

    protocol = args.alignment or protocol_for_space(predictions.space)
    if not dataset.sparse and PROTOCOLS[protocol] != predictions.space:
        print(f'note: the prediction is in {predictions.space} space; {protocol} fits it in '
              f'{PROTOCOLS[protocol]} space as the published scripts would', file=sys.stderr)
    return evaluate(dataset, predictions, protocol=protocol, alignment=with_method(config.alignment, args.method),
                    limit=args.limit, progress=not args.no_progress)


def _table(result, dataset, path):
    from depthmaster_ros.evaluation import markdown_table
    names = len(dataset.names())
    official = f' (official split: {dataset.official_count})' if dataset.official_count not in (None, names) else ''
    sparse = dataset.sparse
    lines = [f'{dataset.name} {path}: {len(result.images)} of {names} images scored{official}, protocol '
             f'{result.protocol}, prediction space {result.space}', '']
    extra = ('images',)
    keys = result.keys + (('coverage',) if sparse else ())
    lines.append(markdown_table('range', list(result.ranges.items()), keys, sparse, extra))
    for failure in result.failed:
        lines.append(f'- not scored: {failure["name"]}: {failure["reason"]}')
    import numpy as np
    if result.model_seconds:
        lines.append(f'\nmodel: {np.mean(result.model_seconds):.3f} s per image over {len(result.model_seconds)} '
                     'new predictions')
    if result.alignment_seconds:
        lines.append(f'alignment: {np.mean(result.alignment_seconds):.3f} s per image (fit and metres, as the node)')
    return '\n'.join(lines)


def _evaluate_bag(args, path):
    from dataclasses import replace

    from depthmaster_ros.commands.bag import config_from_args, write_json
    from depthmaster_ros.evaluation import METRIC_KEYS, Holdout, evaluate_bag, markdown_table, with_method
    from depthmaster_ros.pipeline import load_configured_estimator

    if args.predictions:
        raise CommandError('--predictions: a bag is scored with the model the node runs')
    holdout = Holdout.parse(args.holdout, args.seed)
    config = config_from_args(args)     # the holdout is of the LiDAR: its mode, whatever the params say
    config = replace(config, alignment=with_method(replace(config.alignment, alignment_mode='lidar'), args.method))
    scores = evaluate_bag(path, lambda: load_configured_estimator(config.model), config, holdout, limit=args.limit,
                          progress=not args.no_progress)
    summary = scores.as_json(path)
    lines = [f'bag {path}: {len(scores.frames)} frames scored against held-out LiDAR ({holdout.describe()}), '
             f'alignment {config.alignment.alignment_method}; {scores.frames_without_metres} frames without metres '
             '(no fit published: `depthmaster-ros bag` says why)', '',
             markdown_table('band', scores.band_table(), METRIC_KEYS[:4], True, ('returns',))]
    if scores.frames:
        lines += ['', 'per frame (mean): ' + ', '.join(f'{k} {v:.4f}' for k, v in summary['metrics'].items())]
    print('\n'.join(lines))
    if args.json:
        write_json(args.json, summary)
    return 0

