"""`depthmaster-ros make-tiny-model DIR`: a tiny random-weight model in the official layout."""


def add_arguments(parser):
    parser.add_argument('directory', help='output directory (created)')
    parser.add_argument('--seed', type=int, default=0, help='weight initialisation seed (default 0)')
    parser.add_argument('--backend', choices=('depthmaster', 'marigold'), default='depthmaster',
                        help='which checkpoint layout to write (default depthmaster)')


def run(args):
    from depthmaster_ros.model.tiny import write_tiny_marigold, write_tiny_model
    write = write_tiny_model if args.backend == 'depthmaster' else write_tiny_marigold
    directory = write(args.directory, seed=args.seed)
    print(f'wrote a tiny random {args.backend} model to {directory}')
    return 0
