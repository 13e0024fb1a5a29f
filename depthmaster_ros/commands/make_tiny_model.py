"""`depthmaster-ros make-tiny-model DIR`: a tiny random-weight model in the official layout."""


def add_arguments(parser):
    from depthmaster_ros.model import backend_names
    parser.add_argument('directory', help='output directory (created)')
    parser.add_argument('--seed', type=int, default=0, help='weight initialisation seed (default 0)')
    parser.add_argument('--backend', choices=backend_names(), default='depthmaster',
                        help='which checkpoint layout to write (default depthmaster)')


def run(args):
    from depthmaster_ros.model import get_backend
    directory = get_backend(args.backend).tiny_function()(args.directory, seed=args.seed)
    print(f'wrote a tiny random {args.backend} model to {directory}')
    return 0
