"""`depthmaster-ros`: one console entry point, one module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int`` and imports
its heavy dependencies (torch, rclpy) inside ``run`` so that ``--help`` stays fast.
"""
import argparse
import importlib
import sys

# name -> (module, one-line help)
COMMANDS = {
    'node': ('depthmaster_ros.commands.node', 'run the ROS 2 node (same code as `ros2 run depthmaster_ros depthmaster_node`)'),
    'infer': ('depthmaster_ros.commands.infer', 'predict relative depth for one image file'),
    'make-tiny-model': ('depthmaster_ros.commands.make_tiny_model', 'write a tiny random-weight model in the official layout'),
    'bag': ('depthmaster_ros.commands.bag', 'process a rosbag2 offline with the node pipeline'),
    'batch': ('depthmaster_ros.commands.batch', 'process many bags, resumably, locally or on a Ray cluster'),
    'make-sample': ('depthmaster_ros.commands.make_sample', 'write the synthetic sample rosbag2'),
    'evaluate': ('depthmaster_ros.commands.evaluate', 'score depth on the published benchmarks or a bag\'s held-out LiDAR'),
    'monitor': ('depthmaster_ros.commands.monitor', "a running node's outputs (rate, latency, loss, size) and diagnostics"),
    'finetune': ('depthmaster_ros.commands.finetune', "fine-tune the model on a fleet's bags against their LiDAR"),
    'security': ('depthmaster_ros.commands.security', 'SROS2 permissions for a configuration; the sha256 that pins a model'),
}


def build_parser():
    parser = argparse.ArgumentParser(prog='depthmaster-ros', description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest='command', metavar='COMMAND', required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub)
        sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == '__main__':
    sys.exit(main())
