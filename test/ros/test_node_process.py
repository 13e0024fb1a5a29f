"""`depthmaster-ros node` as its own process: start-up, a clean exit on SIGINT and SIGTERM that leaves
nothing in /dev/shm, and a non-zero exit naming what is missing when the model cannot be loaded."""
import os
from pathlib import Path
import signal
import subprocess
import sys
import time

import pytest

from fixtures_process import (
    left_in_shared_memory,
    shared_memory_files,
    shared_memory_of,
    start_node_process,
    wait_for_line,
    write_node_params,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

def stop_with(process, sig, shm_before):
    """Send sig after start-up; returns (output, seconds to exit, the /dev/shm files the node created
    that are still there after it ended)."""
    try:
        output = wait_for_line(process, 'ready:', 120)
        assert 'ready:' in output, output
        created = shared_memory_of(process.pid)
        assert any('fastdds' in path for path in created), created   # the node's DDS participant
        sent = time.monotonic()
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=10)
        return output + rest, time.monotonic() - sent, left_in_shared_memory(created, shm_before)
    finally:
        if process.poll() is None:
            process.kill()


def test_shipped_config_starts_and_sigint_exits_cleanly(tiny_model_dir):
    """The shipped YAML through real rclpy (empty list, doubles), overridden on the command line."""
    shipped = Path(__file__).resolve().parents[2] / 'config' / 'depthmaster.yaml'
    shm_before = shared_memory_files()
    process = start_node_process(shipped, '--ros-args', '-r', '__ns:=/robot', '-p', f'model:={tiny_model_dir}',
                                 '-p', 'device:=cpu', '-p', 'processing_res:=64', '-p', 'max_depth:=30')
    output, took_s, left = stop_with(process, signal.SIGINT, shm_before)
    assert process.returncode == 0, output
    assert 'Traceback' not in output
    assert took_s < 5, f'shutdown took {took_s:.1f} s'
    assert left == [], f'left in /dev/shm after SIGINT: {left}'


def test_sigterm_exits_cleanly_with_integer_doubles_in_the_file(tmp_path, tiny_model_dir):
    params = write_node_params(tmp_path, tiny_model_dir, max_depth=30, min_depth=1, lidar_to_camera='[]')
    shm_before = shared_memory_files()
    process = start_node_process(params)
    output, took_s, left = stop_with(process, signal.SIGTERM, shm_before)
    assert process.returncode == 0, output
    assert 'Traceback' not in output
    assert took_s < 5, f'shutdown took {took_s:.1f} s'
    assert left == [], f'left in /dev/shm after SIGTERM: {left}'


def test_missing_model_directory_exits_non_zero_naming_it(tmp_path):
    missing = tmp_path / 'no_such_model'
    process = start_node_process(write_node_params(tmp_path, missing))
    output, _ = process.communicate(timeout=120)
    assert process.returncode != 0
    assert 'no_such_model' in output and 'does not exist' in output
    assert 'Traceback' not in output


def test_bad_parameter_in_the_file_exits_non_zero_naming_it(tmp_path, tiny_model_dir):
    process = start_node_process(write_node_params(tmp_path, tiny_model_dir, processing_res=99999))
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2 and 'processing_res' in output


_BIG_IMAGE_LISTENER = '''
import time, rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node, got = Node('big_listener'), []
node.create_subscription(Image, 'big_image', got.append, qos_profile_sensor_data)
print('listening', flush=True)
deadline = time.monotonic() + 15
while time.monotonic() < deadline and len(got) < 5:
    rclpy.spin_once(node, timeout_sec=0.1)
print('received', len(got), flush=True)
'''

_BIG_IMAGE_TALKER = '''
import array, time, rclpy
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
rclpy.init()
node = Node('big_talker')
publisher = node.create_publisher(Image, 'big_image', qos_profile_sensor_data)
msg = Image(height=480, width=640, encoding='rgb8', step=1920)
msg.data = array.array('B', bytes(640 * 480 * 3))
deadline = time.monotonic() + 10
while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(0.5)
for _ in range(20):
    publisher.publish(msg)
    time.sleep(0.1)
'''


def test_shipped_fastdds_profile_carries_large_best_effort_messages_between_processes():
    """The documented fix for >512 KB best-effort messages: 900 KB images arrive across processes."""
    profile = Path(__file__).resolve().parents[2] / 'config' / 'fastdds_large_data.xml'
    env = dict(os.environ, FASTDDS_DEFAULT_PROFILES_FILE=str(profile))
    listener = subprocess.Popen([sys.executable, '-c', _BIG_IMAGE_LISTENER], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert 'listening' in wait_for_line(listener, 'listening', 60)
        talker = subprocess.run([sys.executable, '-c', _BIG_IMAGE_TALKER], env=env, timeout=60,
                                capture_output=True, text=True)
        assert talker.returncode == 0, talker.stderr
        output, _ = listener.communicate(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
    assert 'received 5' in output, output
