"""`depthmaster-ros security`: what a deployment needs to lock the node and its files down.

``permissions --params FILE`` prints the SROS2 permissions this configuration needs (from the node's
own topic table, so they cannot drift from what it subscribes and publishes); ``model-sha256 DIR``
prints the hash the ``model_sha256`` parameter pins a model directory to.
"""


def add_arguments(parser):
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    model = actions.add_parser('model-sha256', help='print the sha256 of a model directory (the model_sha256 parameter)')
    model.add_argument('directory', metavar='DIR', help='model directory (or a hub id in the local cache)')


def run(args):
    import sys

    from depthmaster_ros.model.errors import ModelLoadError
    if args.action == 'model-sha256':
        from depthmaster_ros.model.loading import resolve_model_directory
        from depthmaster_ros.model.provenance import model_sha256
        try:
            print(model_sha256(resolve_model_directory(args.directory)))
        except (ModelLoadError, ValueError) as error:
            print(f'depthmaster-ros security: {error}', file=sys.stderr)
            return 2
    return 0
