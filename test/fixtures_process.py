"""`depthmaster-ros node` as its own process: a params file for it, starting it, and reading its output."""
import os
from pathlib import Path
import subprocess
import sys
import time

CLI = str(Path(sys.executable).with_name('depthmaster-ros'))


def write_node_params(tmp_path, model_dir, **extra):
    """A params YAML for the node: the model, CPU, 64 px, no alignment, plus `extra` as written."""
    lines = ['/**:', '  ros__parameters:', f"    model: '{model_dir}'", "    device: 'cpu'",
             '    processing_res: 64', "    alignment_mode: 'none'"]
    lines += [f'    {name}: {value}' for name, value in extra.items()]
    path = tmp_path / 'params.yaml'
    path.write_text('\n'.join(lines) + '\n')
    return path


def start_node_process(params, *ros_args, env=None):
    """`depthmaster-ros node --params PARAMS [ros_args]`, stdout and stderr merged, unbuffered."""
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED='1')
    return subprocess.Popen([CLI, 'node', '--params', str(params), *ros_args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)


def wait_for_line(process, text, timeout_s):
    """Read output until a line contains text; returns everything read."""
    deadline = time.monotonic() + timeout_s
    seen = []
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line:
            seen.append(line)
            if text in line:
                return ''.join(seen)
        else:
            time.sleep(0.05)
    return ''.join(seen) + (process.stdout.read() or '')


class ProcessClient:
    """An rclpy node of the test that talks to the node process over reliable DDS: publishers, subscriptions, spin."""

    def __init__(self, context, name, depth=5):
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        self.node = Node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.qos = QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)

    def publisher(self, msg_type, topic):
        return self.node.create_publisher(msg_type, topic, self.qos)

    def subscribe(self, msg_type, topic, callback):
        return self.node.create_subscription(msg_type, topic, callback, self.qos)

    def spin(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.02)

    def close(self):
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.executor.shutdown()


def shared_memory_of(pid):
    """The /dev/shm files process pid maps (Fast DDS segments, port segments, semaphores), each with its
    `_el` lock file where one exists."""
    with open(f'/proc/{pid}/maps') as maps:
        paths = {line.split(maxsplit=5)[5].strip() for line in maps if ' /dev/shm/' in line}
    return paths | {path + '_el' for path in paths if os.path.exists(path + '_el')}


def left_in_shared_memory(paths, before):
    """Of paths (created after `before` was listed), those still in /dev/shm that no live process maps."""
    still_mapped = set()
    for proc in Path('/proc').iterdir():
        if proc.name.isdigit():
            try:
                still_mapped |= shared_memory_of(proc.name)
            except OSError:
                continue                    # the process ended while we read
    return sorted(path for path in paths if path not in before and os.path.exists(path) and path not in still_mapped)


def shared_memory_files():
    return {str(path) for path in Path('/dev/shm').iterdir()}
