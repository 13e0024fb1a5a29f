"""The node's process: rclpy set-up, signals, exit codes and a prompt exit (`depthmaster_node`)."""
import os
import signal
import sys
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

from .node import DepthMasterNode
from .security import DdsSecurityError, check_keystore, check_security_plugins


def lifecycle_main(argv: list[str] | None = None) -> int:
    """`ros2 run depthmaster_ros depthmaster_lifecycle_node`: the managed node (configure/activate by a manager)."""
    return main(argv, lifecycle=True)


def main(argv: list[str] | None = None, exit_process: bool | None = None, lifecycle: bool = False) -> int:
    """`ros2 run depthmaster_ros depthmaster_node [--ros-args ...]`; returns the process exit code.

    exit_process (default: when argv is None, i.e. run as the program): once the node, its worker and
    the rclpy context are destroyed (which removes the DDS participant's shared-memory segments from
    /dev/shm), end the process at once. Python's own teardown of torch and diffusers modules takes
    1-3 s more and would break the 2 s shutdown a robot's launch system expects.
    """
    exit_process = argv is None if exit_process is None else exit_process
    code = _run(sys.argv if argv is None else argv, lifecycle)
    if exit_process:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _run(args, lifecycle=False):
    from depthmaster_ros.model import ModelLoadError
    context = rclpy.Context()
    try:                    # security enforced but impossible: refuse before any node exists (security.py)
        check_keystore(args)
        rclpy.init(args=args, context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
        check_security_plugins()
    except DdsSecurityError as error:
        print(f'depthmaster_node: DDS security: {error}', file=sys.stderr)
        if context.ok():
            rclpy.shutdown(context=context)
        return 3
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    # One executor thread: callbacks only convert and hand off (the model runs in the node's worker). With
    # rclpy's MultiThreadedExecutor the executor loop itself spun hot under a 30 Hz camera and starved the
    # worker of the GIL (`make soak`: the model's forward took seconds instead of 0.1 s, p99 latency 7-15 s).
    executor = SingleThreadedExecutor(context=context)
    spin = None
    try:
        try:
            if lifecycle:
                from .lifecycle_node import DepthMasterLifecycleNode
                node = DepthMasterLifecycleNode(context=context)
            else:
                node = DepthMasterNode(context=context)
        except ModelLoadError as error:
            print(f'depthmaster_node: cannot load the model: {error}', file=sys.stderr)
            return 1
        except (ValueError, rclpy.exceptions.InvalidParameterValueException,
                rclpy.exceptions.InvalidParameterTypeException) as error:
            print(f'depthmaster_node: bad parameter: {error}', file=sys.stderr)
            return 2
        executor.add_node(node)
        spin = threading.Thread(target=_spin, args=(executor, stop), name='depthmaster_executor', daemon=True)
        spin.start()
        while not stop.wait(0.1):
            if not spin.is_alive():
                break
        node.get_logger().info('shutting down')
        node.stop_worker(timeout_s=1.5)
        return 0
    finally:
        _destroy(context, executor, node, spin, stop)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _destroy(context, executor, node, spin, stop):
    """Destroy the node and the context while nothing holds their handles: rclpy defers destroying a
    handle in use (the spin thread's wait set), and a process that exits before the deferred destruction
    leaves the Fast DDS participant's segments in /dev/shm for good."""
    stop.set()
    if spin is not None:
        spin.join(timeout=1.0)
    executor.shutdown(timeout_sec=0.5)
    if node is not None:
        node.destroy_node()
    if context.ok():
        rclpy.shutdown(context=context)
    context.destroy()


def _spin(executor, stop):
    try:
        while not stop.is_set() and executor.context.ok():
            executor.spin_once(timeout_sec=0.1)
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    finally:
        stop.set()


if __name__ == '__main__':
    sys.exit(main())
