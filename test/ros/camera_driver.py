"""A camera driver in its own process for the delivery tests: mono8 images and their camera_info at a
fixed rate, reliable (the node's best-effort subscriptions take them), stamped with the wall clock.

    python camera_driver.py SECONDS HZ WIDTH HEIGHT [NAMESPACE]

Prints one JSON line with the number of frames it sent.
"""
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo

from depthmaster_ros.ros import messages


def camera_info(width, height, header):
    focal = 0.8 * width
    return CameraInfo(header=header, width=width, height=height, distortion_model='plumb_bob', d=[0.0] * 5,
                      k=[focal, 0.0, width / 2, 0.0, focal, height / 2, 0.0, 0.0, 1.0],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[focal, 0.0, width / 2, 0.0, 0.0, focal, height / 2, 0.0, 0.0, 0.0, 1.0, 0.0])


def main():
    seconds, hz, width, height = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    namespace = sys.argv[5] if len(sys.argv) > 5 else '/'
    rclpy.init()
    node = Node('camera_driver', namespace=namespace)
    from sensor_msgs.msg import Image
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    images, infos = node.create_publisher(Image, 'image', qos), node.create_publisher(CameraInfo, 'camera_info', qos)
    deadline = time.monotonic() + 60
    while (images.get_subscription_count() == 0 or infos.get_subscription_count() == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)                      # discovery settles on both sides
    pixels = np.full((height, width), 100, np.uint8)
    sent, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        header = messages.header_msg(time.time_ns(), 'camera_optical')
        infos.publish(camera_info(width, height, header))
        images.publish(messages.image_msg(pixels, 'mono8', header))
        sent += 1
        time.sleep(max(0.0, start + sent / hz - time.monotonic()))
    print(json.dumps({'frames': sent}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
