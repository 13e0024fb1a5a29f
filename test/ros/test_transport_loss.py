"""Two processes, a driver and the node, as on a robot: large best-effort images (640x480 rgb8, 900 KB,
30 Hz) and clouds (3 MB, 10 Hz). Without the shipped Fast DDS profile the node reports exactly the
messages it lost; with the profile in both processes at least 95 % arrive."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

from fixtures_node import status_value
from fixtures_process import start_node_process, wait_for_line, write_node_params
from fixtures_ros import spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / 'config' / 'fastdds_large_data.xml'
DRIVER = Path(__file__).with_name('large_message_driver.py')
SECONDS, IMAGE_HZ, CLOUD_HZ, CLOUD_BYTES = 3.0, 30.0, 10.0, 3_000_000


def profile_env(with_profile):
    """The environment of both processes: the shipped profile for every process, or none at all."""
    env = {k: v for k, v in os.environ.items() if k not in ('FASTDDS_DEFAULT_PROFILES_FILE',
                                                             'FASTRTPS_DEFAULT_PROFILES_FILE')}
    if with_profile:
        env['FASTDDS_DEFAULT_PROFILES_FILE'] = env['FASTRTPS_DEFAULT_PROFILES_FILE'] = str(PROFILE)
    return env


def run_driver_against_node(tmp_path, tiny_model_dir, ros_context, ros_executor, with_profile):
    """(what the driver sent, the node's last transport status values)."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.node import Node
    env = profile_env(with_profile)
    params = write_node_params(tmp_path, tiny_model_dir, alignment_mode="'lidar'", diagnostics_period_s=0.5)
    node_process = start_node_process(params, env=env)
    driver = None
    try:
        assert 'ready:' in wait_for_line(node_process, 'ready:', 120)
        listener = Node('transport_listener', context=ros_context)
        ros_executor.add_node(listener)
        statuses = []
        listener.create_subscription(DiagnosticArray, '/diagnostics',
                                     lambda m: statuses.extend(s for s in m.status if s.name.endswith(': transport')), 10)
        driver = subprocess.run([sys.executable, str(DRIVER), str(SECONDS), str(IMAGE_HZ), str(CLOUD_HZ),
                                 str(CLOUD_BYTES)], env=env, capture_output=True, text=True, timeout=120)
        assert driver.returncode == 0, driver.stderr
        sent = json.loads(driver.stdout.strip().splitlines()[-1])

        def settled(slack=0):
            """The last status once it accounts for every message sent (slack: the last ones may be unseen)."""
            if not statuses:
                return None
            last = statuses[-1]
            counts = {key: int(status_value(last, key) or 0) for key in ('image_received', 'image_lost',
                                                                         'points_received', 'points_lost')}
            done = counts['image_received'] + counts['image_lost'] >= sent['image'] - slack and \
                counts['points_received'] + counts['points_lost'] >= sent['points'] - slack
            return (counts, last) if done else None
        spin_until(ros_executor, settled, 10)
        # a lost closing marker has no later message to reveal it: then one message stays unaccounted
        result = settled() or settled(slack=1)
        assert result is not None, (sent, [(kv.key, kv.value) for kv in statuses[-1].values] if statuses else None)
        return sent, result
    finally:
        node_process.terminate()
        node_process.communicate(timeout=20)


def test_without_the_profile_the_reported_loss_is_the_true_loss(tmp_path, tiny_model_dir, ros_context, ros_executor):
    sent, (counts, status) = run_driver_against_node(tmp_path, tiny_model_dir, ros_context, ros_executor, False)
    for name in ('image', 'points'):
        unseen = sent[name] - counts[f'{name}_received'] - counts[f'{name}_lost']    # 0, or 1 lost last marker
        assert unseen in (0, 1)
        true_loss = sent[name] - counts[f'{name}_received'] - unseen
        print(f'{name}: sent {sent[name]}, received {counts[f"{name}_received"]}, reported lost {counts[f"{name}_lost"]}')
        assert counts[f'{name}_lost'] == true_loss
    if counts['image_lost'] or counts['points_lost']:
        assert status.level == b'\x01' and 'FASTDDS_DEFAULT_PROFILES_FILE' in status.message


def test_with_the_profile_in_both_processes_large_messages_arrive(tmp_path, tiny_model_dir, ros_context, ros_executor):
    sent, (counts, _) = run_driver_against_node(tmp_path, tiny_model_dir, ros_context, ros_executor, True)
    for name in ('image', 'points'):
        large_received = counts[f'{name}_received'] - 2 * 3              # the small framing messages arrive anyway
        ratio = large_received / sent[f'large_{name}']
        print(f'{name}: {large_received} of {sent[f"large_{name}"]} large messages arrived ({ratio:.1%})')
        assert ratio >= 0.95
