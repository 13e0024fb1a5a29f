"""depth/scan and depth/obstacles over real DDS: one camera in its frames, and a two-camera ring's one scan."""
import numpy as np
import pytest

from depthmaster_ros.geometry import RigidTransform, TransformBuffer, rotation_about
from depthmaster_ros.pipeline import DepthPipeline, merged_scan

from fixtures_estimators import CountingEstimator
from fixtures_node import MULTI_CAMERA_PARAMS as PARAMS
from fixtures_node import header_ns
from fixtures_pipeline import CAMERA_FRAME, frame_input, pipeline_config
from fixtures_ros import spin_until

pytestmark = pytest.mark.ros

NAV = dict(publish_scan=True, publish_obstacles=True, scan_range_max=20.0, obstacle_max_range=20.0)


def tf_message(transform, parent, child):
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage
    t, q = transform.to_translation_quaternion()
    stamped = TransformStamped()
    stamped.header.frame_id, stamped.child_frame_id = parent, child
    stamped.transform.translation.x, stamped.transform.translation.y, stamped.transform.translation.z = map(float, t)
    (stamped.transform.rotation.x, stamped.transform.rotation.y, stamped.transform.rotation.z,
     stamped.transform.rotation.w) = map(float, q)
    return TFMessage(transforms=[stamped])


def test_one_camera_publishes_its_scan_in_scan_frame_and_its_obstacles_in_the_optical_frame(
        start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, **PARAMS, **NAV)
    rig.publish_static_transform(frames[0].camera_to_base, 'base_link', CAMERA_FRAME)
    assert rig.spin_until(lambda: node.transforms.can_transform('base_link', CAMERA_FRAME), 5)
    rig.publish_frame(frames[0], 1_000_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/scan') == 1 and rig.count('depth/obstacles') == 1, 20)

    scan, cloud = rig.received['depth/scan'][0], rig.received['depth/obstacles'][0]
    assert (scan.header.frame_id, header_ns(scan)) == ('base_link', 1_000_000)
    assert (cloud.header.frame_id, header_ns(cloud)) == (CAMERA_FRAME, 1_000_000)
    assert cloud.point_step == 12 and [f.name for f in cloud.fields] == ['x', 'y', 'z']
    tree = TransformBuffer()
    tree.set_transform('base_link', CAMERA_FRAME, frames[0].camera_to_base, static=True)
    alone = DepthPipeline(tiny_estimator, pipeline_config(**PARAMS, **NAV)).process(
        frame_input(frames[0], with_cloud=False, stamp_ns=1_000_000, transforms=tree))
    np.testing.assert_allclose(np.asarray(scan.ranges), alone.navigation.scan.ranges, rtol=1e-4, atol=1e-5)
    assert np.isfinite(alone.navigation.scan.ranges).any()
    assert cloud.width == len(alone.navigation.obstacles) > 0


def test_a_two_camera_ring_publishes_one_scan_over_both_with_the_older_stamp(
        start_cameras_node, tiny_estimator, frames, ros_context):
    import threading

    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import LaserScan
    from tf2_msgs.msg import TFMessage
    gate = threading.Event()
    counting = CountingEstimator(tiny_estimator, gate=gate)
    node, rig = start_cameras_node(counting, **NAV, scan_merge=True)
    mounts = {'front': frames[0].camera_to_base,
              'left': RigidTransform(rotation_about('z', np.pi / 2), np.zeros(3)) @ frames[0].camera_to_base}
    latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    tf_pub = rig.node.create_publisher(TFMessage, '/tf_static', latched)
    for camera, mount in mounts.items():
        tf_pub.publish(tf_message(mount, 'base_link', f'{camera}_optical'))
    assert spin_until(rig.executor, lambda: all(node.transforms.can_transform('base_link', f'{c}_optical')
                                                for c in mounts), 5)
    merged, front_alone = [], []
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    rig.node.create_subscription(LaserScan, 'depth/scan', merged.append, reliable)
    rig.node.create_subscription(LaserScan, 'front/depth/scan', front_alone.append, reliable)
    assert spin_until(rig.executor, lambda: node.ring_scan_pub.get_subscription_count() > 0, 5)

    rig.publish('front', frames[0], 1_000)                         # taken at once; its forward waits at the gate
    assert spin_until(rig.executor, lambda: node.mailbox.counters()['processed'] == 1, 5)
    rig.publish('front', frames[2], 3_000)
    rig.publish('left', frames[1], 2_000)
    assert spin_until(rig.executor, lambda: node.mailbox.counters()['received'] == 3, 5)
    gate.set()
    assert spin_until(rig.executor, lambda: len(merged) == 2, 20)
    assert counting.batches == [1, 2]

    ring = merged[1]                                               # front (3000) and left (2000) in one forward
    assert (ring.header.frame_id, header_ns(ring)) == ('base_link', 2_000)
    assert ring.angle_min == pytest.approx(-np.pi) and ring.angle_max > np.pi - 2 * ring.angle_increment
    expected = []
    for camera, frame, stamp in (('front', frames[2], 3_000), ('left', frames[1], 2_000)):
        tree = TransformBuffer()
        tree.set_transform('base_link', f'{camera}_optical', mounts[camera], static=True)
        alone = DepthPipeline(tiny_estimator, pipeline_config(**PARAMS, **NAV, cameras=['front', 'left'],
                                                              scan_merge=True)).process(
            frame_input(frame, with_cloud=False, stamp_ns=stamp, frame_id=f'{camera}_optical', transforms=tree))
        expected.append((alone.navigation.scan, stamp))
    scan, stamp = merged_scan(expected)
    assert stamp == 2_000
    np.testing.assert_allclose(np.asarray(ring.ranges), scan.ranges, rtol=1e-4, atol=1e-5)
    seen = [~np.isnan(s.ranges) for s, _ in expected]
    assert (~np.isnan(np.asarray(ring.ranges))).sum() > max(s.sum() for s in seen)     # both cameras contribute
    assert front_alone == []                                       # a ring member's own scan stays unpublished
