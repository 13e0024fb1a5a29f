"""`depthmaster-ros monitor [--namespace NS]`: what a running node publishes, refreshed like `ros2 topic hz`.

Per output: rate, messages lost on the way here, latency (receipt - header stamp), stamps that did not
increase, message size; then the node's /diagnostics statuses. `--once`/`--duration` print for scripts.
"""
import json
import sys


def add_arguments(parser):
    parser.add_argument('--namespace', default='/', metavar='NS', help="the node's namespace (default /)")
    parser.add_argument('--node', default='depthmaster_node', metavar='NAME',
                        help='node name whose /diagnostics statuses are shown (default depthmaster_node)')
    parser.add_argument('--period', type=float, default=1.0, metavar='S', help='refresh every S seconds (default 1)')
    parser.add_argument('--duration', type=float, default=None, metavar='S',
                        help='stop after S seconds (default: until Ctrl-C; with --once: 5)')
    parser.add_argument('--once', action='store_true', help='watch --duration seconds, then print one report and exit')
    parser.add_argument('--json', action='store_true', help='print the final report as JSON (for scripts)')
    parser.add_argument('--reliability', choices=('reliable', 'best_effort'), default='reliable',
                        help='QoS of the subscriptions (default reliable, as depth_image_proc; '
                             'use best_effort when the node runs with output_reliability: best_effort)')


def run(args):
    from depthmaster_ros.ros import format_report, watch

    from .interrupt import StopOnSigint
    duration = 5.0 if args.once and args.duration is None else args.duration
    redraw = sys.stdout.isatty()

    def show(report):
        if args.once or args.json:
            return
        print(('\033[H\033[J' if redraw else '\n') + format_report(report), flush=True)

    with StopOnSigint('stopping the monitor') as interrupt:
        report = watch(args.namespace, args.node, args.reliability, args.period, duration, show, interrupt.requested)
    if args.json:
        print(json.dumps(report.as_dict()))
    elif args.once or not redraw:
        print(format_report(report))
    return 0
