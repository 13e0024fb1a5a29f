"""`depthmaster-ros security`: what a deployment needs to lock the node and its files down.

``permissions --params FILE`` prints the SROS2 policy this configuration needs (from the node's own
topic rules, so it cannot drift from what the node subscribes to and publishes; a test compares it
with a running node); ``model-sha256 DIR`` prints the hash the ``model_sha256`` parameter pins a
model directory to.
"""
from .errors import CommandError


def add_arguments(parser):
    actions = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    permissions = actions.add_parser('permissions', help='print the SROS2 policy (topics, services) of a configuration')
    permissions.add_argument('--params', metavar='FILE', help='the node params YAML (default: every default)')
    permissions.add_argument('--namespace', default='/', help="the node's namespace (default /)")
    permissions.add_argument('--node-name', default='depthmaster_node', help='the node name (default depthmaster_node)')
    permissions.add_argument('--enclave', default='/depthmaster', help='the enclave path (default /depthmaster)')
    permissions.add_argument('--lifecycle', action='store_true', help='the managed node (adds the lifecycle services)')
    permissions.add_argument('-r', '--remap', action='append', default=[], metavar='FROM:=TO',
                             help='a remapping the node runs with, as after --ros-args -r (repeatable)')
    model = actions.add_parser('model-sha256', help='print the sha256 of a model directory (the model_sha256 parameter)')
    model.add_argument('directory', metavar='DIR', help='model directory (or a hub id in the local cache)')


def run(args):
    import sys

    from depthmaster_ros.model import ModelLoadError
    try:
        if args.action == 'permissions':
            print(_permissions(args), end='')
        else:
            from depthmaster_ros.model import model_sha256, resolve_model_directory
            print(model_sha256(resolve_model_directory(args.directory)))
    except (ModelLoadError, ValueError) as error:
        print(f'depthmaster-ros security: {error}', file=sys.stderr)
        return 2
    return 0


def _permissions(args):
    from depthmaster_ros.config import Config, load_params_file
    from depthmaster_ros.ros import node_topics, permissions_policy
    remappings = {}
    for rule in args.remap:
        source, separator, target = rule.partition(':=')
        if not separator or not source or not target:
            raise CommandError(f'--remap {rule!r}: expected FROM:=TO')
        remappings[source] = target
    config = Config.from_params(load_params_file(args.params) if args.params else {})
    topics = node_topics(config, args.namespace, args.node_name, args.lifecycle, remappings)
    return permissions_policy(topics, args.enclave, args.node_name, args.namespace)
