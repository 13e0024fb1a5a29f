"""Every repeated fault is logged once per throttle window, whichever path found it: a node process fed
images with zero stamps and changing sizes logs each kind once while it keeps processing them."""
import time

import numpy as np
import pytest

from fixtures_process import start_node_process, wait_for_line, write_node_params

pytestmark = pytest.mark.ros

FRAMES = 12


def test_repeated_frame_faults_are_logged_once_per_window(tmp_path, tiny_model_dir, ros_context):
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    from depthmaster_ros.ros import messages
    params = write_node_params(tmp_path, tiny_model_dir, log_throttle_s=60.0, input_reliability="'reliable'")
    process = start_node_process(params)
    node = Node('log_throttle_camera', context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    reliable = QoSProfile(depth=FRAMES, reliability=ReliabilityPolicy.RELIABLE)
    publisher = node.create_publisher(Image, 'image', reliable)
    depth = []
    node.create_subscription(Image, 'depth/relative', depth.append, reliable)
    try:
        assert 'ready:' in wait_for_line(process, 'ready:', 120)
        deadline = time.monotonic() + 60
        while publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        for index in range(FRAMES):                     # stamp zero, and a new size every frame
            width, height = (64, 48) if index % 2 else (48, 36)
            rgb = np.full((height, width, 3), 40 * (index % 5), np.uint8)
            publisher.publish(messages.image_msg(rgb, 'rgb8', messages.header_msg(0, 'camera_optical')))
            end = time.monotonic() + 0.4                # one frame at a time: none is dropped by the mailbox
            while time.monotonic() < end and len(depth) <= index:
                executor.spin_once(timeout_sec=0.05)
        assert len(depth) >= FRAMES // 2, f'only {len(depth)} of {FRAMES} frames came back'
    finally:
        executor.remove_node(node)
        node.destroy_node()
        executor.shutdown()
        process.terminate()
        output, _ = process.communicate(timeout=20)
    # one line per fault, whichever module noticed it and whatever sizes the message names
    for kind, text in (('image_stamp_zero', 'stamp is zero'), ('image_size_change', 'image size changed')):
        lines = [line for line in output.splitlines() if text in line]
        assert len(lines) == 1, (kind, lines)
        assert f'{kind}:' in lines[0] and 'logged at most every 60 s' in lines[0]
