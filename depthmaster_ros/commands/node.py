"""`depthmaster-ros node --params FILE [--ros-args ...]`: the ROS 2 node from the venv.

The same code as `ros2 run depthmaster_ros depthmaster_node`; the params file is handed to rclpy
as `--ros-args --params-file FILE`, and is checked with the parameter table first so a typo
fails before the model loads.
"""
import argparse


def add_arguments(parser):
    parser.add_argument('--params', metavar='FILE', help='ROS 2 params YAML (for example config/depthmaster.yaml)')
    parser.add_argument('--lifecycle', action='store_true',
                        help='start the managed (lifecycle) node: it loads the model on configure and works while active')
    parser.add_argument('--ros-args', dest='ros_args', nargs=argparse.REMAINDER, default=[], metavar='ARG',
                        help='everything after it goes to ROS (remappings -r, parameters -p name:=value, ...)')


def ros_argv(params_file, ros_args):
    """The argv rclpy sees: one --ros-args section holding the params file, then the user's arguments
    (so a -p on the command line overrides the file)."""
    argv = ['depthmaster_node', '--ros-args']
    if params_file:
        argv += ['--params-file', str(params_file)]
    return argv + list(ros_args or [])


def run(args):
    import sys

    from depthmaster_ros.config import load_params_file
    if args.params:
        try:
            load_params_file(args.params)
        except ValueError as error:
            print(f'depthmaster-ros node: {error}', file=sys.stderr)
            return 2
    try:
        argv = ros_argv(args.params, args.ros_args)
    except ValueError as error:
        print(f'depthmaster-ros node: {error}', file=sys.stderr)
        return 2
    from depthmaster_ros.ros import main
    return main(argv, exit_process=True, lifecycle=args.lifecycle)
