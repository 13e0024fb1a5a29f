"""A camera and LiDAR driver in its own process for the transport tests: large best-effort images and
clouds at a fixed rate, framed by small messages so every large one lost in between shows as a gap.

    python large_message_driver.py SECONDS IMAGE_HZ CLOUD_HZ CLOUD_BYTES

Prints one JSON line with what it sent.
"""
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, PointCloud2, PointField

MARKERS = 3


def image(width, height, stamp_ns):
    msg = Image(width=width, height=height, encoding='rgb8', step=3 * width)
    msg.header.frame_id = 'camera_optical'
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.data = np.full(3 * width * height, stamp_ns % 251, np.uint8).tobytes()
    return msg


def cloud(points, stamp_ns):
    fields = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1) for i, n in enumerate('xyzi')]
    msg = PointCloud2(height=1, width=points, fields=fields, point_step=16, row_step=16 * points, is_dense=True)
    msg.header.frame_id = 'lidar'
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.data = np.ones(4 * points, np.float32).tobytes()
    return msg


def main():
    seconds, image_hz, cloud_hz, cloud_bytes = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    rclpy.init()
    node = Node('large_message_driver')
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT)      # a camera driver's sensor-data QoS
    images = node.create_publisher(Image, 'image', qos)
    clouds = node.create_publisher(PointCloud2, 'points', qos)
    deadline = time.monotonic() + 60
    while (images.get_subscription_count() == 0 or clouds.get_subscription_count() == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)                      # discovery settles on both sides
    sent = {'image': 0, 'points': 0, 'large_image': 0, 'large_points': 0}

    def markers():
        for _ in range(MARKERS):
            images.publish(image(1, 1, time.time_ns()))
            clouds.publish(cloud(1, time.time_ns()))
            sent['image'] += 1
            sent['points'] += 1
            time.sleep(0.1)
    markers()
    start = time.monotonic()
    next_image = next_cloud = start
    while time.monotonic() - start < seconds:
        now = time.monotonic()
        if now >= next_image:
            images.publish(image(640, 480, time.time_ns()))
            sent['image'] += 1
            sent['large_image'] += 1
            next_image += 1.0 / image_hz
        if now >= next_cloud:
            clouds.publish(cloud(cloud_bytes // 16, time.time_ns()))
            sent['points'] += 1
            sent['large_points'] += 1
            next_cloud += 1.0 / cloud_hz
        time.sleep(max(0.0, min(next_image, next_cloud) - time.monotonic()))
    time.sleep(0.2)
    markers()
    print(json.dumps(sent), flush=True)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()


if __name__ == '__main__':
    main()
