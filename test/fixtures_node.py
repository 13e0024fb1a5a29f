"""The node under test in-process over real DDS, and a rig node that feeds it and records its outputs.

`start_node(estimator, **params)` starts a DepthMasterNode with the tests' parameters (64 px, CPU,
reliable input, no smoothing) and a `Rig` on the test's executor. rclpy is imported only when a
test asks for them.
"""
import pytest

from depthmaster_ros.conversions import image_to_numpy, xyz_cloud_fields

from fixtures_pipeline import CAMERA_FRAME, LIDAR_FRAME
from fixtures_ros import spin_until

OUTPUTS = ('depth/image', 'depth/camera_info', 'depth/relative', 'depth/points', 'depth/alignment')


class Rig:
    """Publishes the node's inputs and records its outputs (one test node, same executor)."""

    def __init__(self, executor, context, target):
        from depthmaster_interfaces.msg import DepthAlignment
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2
        from tf2_msgs.msg import TFMessage
        self.node = Node('rig', context=context)
        executor.add_node(self.node)
        self.executor = executor
        self.target = target         # the node under test, to wait until it has taken an input
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.image_pub = self.node.create_publisher(Image, 'image', reliable)
        self.compressed_pub = self.node.create_publisher(CompressedImage, 'image/compressed', reliable)
        self.info_pub = self.node.create_publisher(CameraInfo, 'camera_info', reliable)
        self.points_pub = self.node.create_publisher(PointCloud2, 'points', reliable)
        self.tf_static_pub = self.node.create_publisher(TFMessage, '/tf_static', latched)
        self.received = {name: [] for name in OUTPUTS + ('depth/image_mm', 'depth/confidence', 'depth/scan',
                                                         'depth/obstacles', '/diagnostics')}
        types = {'depth/image': Image, 'depth/image_mm': Image, 'depth/confidence': Image, 'depth/camera_info': CameraInfo,
                 'depth/relative': Image, 'depth/points': PointCloud2, 'depth/alignment': DepthAlignment,
                 'depth/scan': LaserScan, 'depth/obstacles': PointCloud2, '/diagnostics': DiagnosticArray}
        for topic, msg_type in types.items():
            self.node.create_subscription(msg_type, topic, self.received[topic].append, reliable)

    def wait_for_node(self, timeout_s=10.0):
        """Until the node's subscriptions are matched (so nothing published is lost) and the node sees the
        rig's output subscriptions (a lazy node runs no inference before)."""
        return spin_until(self.executor, lambda: (self.image_pub.get_subscription_count() > 0
                                                  or self.compressed_pub.get_subscription_count() > 0)
                          and all(pub.get_subscription_count() > 0 for pub in self.target.channels[0].output_pubs.values()),
                          timeout_s)

    def publish_frame(self, frame, stamp_ns, camera_info=True, cloud=True, encoding='rgb8'):
        from depthmaster_ros.ros import messages
        header = messages.header_msg(stamp_ns, CAMERA_FRAME)
        if camera_info:
            self.info_pub.publish(messages.camera_info_msg(frame.camera.to_camera_info_fields(), header))
            self.spin_until(lambda: self.target.channels[0].camera_sync.match(stamp_ns) is not None, 5)
        if cloud:
            self.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(frame.lidar_points),
                                                       messages.header_msg(stamp_ns, LIDAR_FRAME)))
            self.spin_until(lambda: any(c.stamp_ns == stamp_ns for c in self.target.clouds.snapshot()), 5)
        pixels = frame.rgb if encoding == 'rgb8' else frame.rgb[..., ::-1]
        self.image_pub.publish(messages.image_msg(pixels, encoding, header))

    def publish_static_transform(self, transform, parent, child):
        from geometry_msgs.msg import TransformStamped
        from tf2_msgs.msg import TFMessage
        t, q = transform.to_translation_quaternion()
        stamped = TransformStamped()
        stamped.header.frame_id, stamped.child_frame_id = parent, child
        (stamped.transform.translation.x, stamped.transform.translation.y,
         stamped.transform.translation.z) = (float(v) for v in t)
        (stamped.transform.rotation.x, stamped.transform.rotation.y, stamped.transform.rotation.z,
         stamped.transform.rotation.w) = (float(v) for v in q)
        self.tf_static_pub.publish(TFMessage(transforms=[stamped]))

    def spin_until(self, predicate, timeout_s=20.0):
        return spin_until(self.executor, predicate, timeout_s)

    def count(self, topic):
        return len(self.received[topic])


@pytest.fixture
def start_node(ros_context, ros_executor):
    """start_node(estimator, **params) -> (node, rig), both on the test's executor."""
    from rclpy.parameter import Parameter

    from depthmaster_ros.ros import DepthMasterNode

    def start(estimator, **params):
        params = {'processing_res': 64, 'device': 'cpu', 'input_reliability': 'reliable',
                  'temporal_smoothing': 0.0, **params}
        overrides = [Parameter(name, value=value) for name, value in params.items()]
        node = DepthMasterNode(estimator=estimator, context=ros_context, parameter_overrides=overrides)
        ros_executor.add_node(node)
        rig = Rig(ros_executor, ros_context, node)
        assert rig.wait_for_node()
        return node, rig
    return start


def decode_image(msg):
    return image_to_numpy(msg)


def header_ns(msg):
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def status_value(status, key):
    """The value of `key` in a DiagnosticStatus, or None."""
    return next((kv.value for kv in status.values if kv.key == key), None)


# several cameras on one node (test_multi_camera, test_navigation_topics)
CAMERAS = ('front', 'left')
MULTI_CAMERA_PARAMS = dict(alignment_mode='fixed', fixed_scale=0.6, fixed_shift=0.1, cloud_stride=4, diagnostics_period_s=0.2)


class CamerasRig:
    """Publishes each camera's image and camera_info under its namespace and records its outputs."""

    def __init__(self, executor, context, node):
        from depthmaster_interfaces.msg import DepthAlignment
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CameraInfo, Image
        self.node, self.executor, self.target = Node('cameras_rig', context=context), executor, node
        executor.add_node(self.node)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pubs = {c: self.node.create_publisher(Image, f'{c}/image', reliable) for c in CAMERAS}
        self.info_pubs = {c: self.node.create_publisher(CameraInfo, f'{c}/camera_info', reliable) for c in CAMERAS}
        self.received = {}
        for camera in CAMERAS:
            for topic, msg_type in (('depth/image', Image), ('depth/alignment', DepthAlignment)):
                name = f'{camera}/{topic}'
                self.received[name] = []
                self.node.create_subscription(msg_type, name, self.received[name].append, reliable)
        self.received['/diagnostics'] = []
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.received['/diagnostics'].append, reliable)

    def wait_for_node(self):
        return spin_until(self.executor, lambda: all(p.get_subscription_count() for p in self.image_pubs.values())
                          and all(c.output_pubs[name].get_subscription_count() for c in self.target.channels
                                  for name in ('depth', 'alignment')), 10)

    def publish(self, camera, frame, stamp_ns):
        from depthmaster_ros.ros import messages
        header = messages.header_msg(stamp_ns, f'{camera}_optical')
        channel = next(c for c in self.target.channels if c.name == camera)
        self.info_pubs[camera].publish(messages.camera_info_msg(frame.camera.to_camera_info_fields(), header))
        assert spin_until(self.executor, lambda: channel.camera_sync.match(stamp_ns) is not None, 5)
        self.image_pubs[camera].publish(messages.image_msg(frame.rgb, 'rgb8', header))

    def stamps(self, camera):
        return [header_ns(m) for m in self.received[f'{camera}/depth/image']]


@pytest.fixture
def start_cameras_node(ros_context, ros_executor):
    from rclpy.parameter import Parameter

    from depthmaster_ros.ros import DepthMasterNode

    def start(estimator, **params):
        params = {'processing_res': 64, 'device': 'cpu', 'input_reliability': 'reliable', 'temporal_smoothing': 0.0,
                  'cameras': list(CAMERAS), **MULTI_CAMERA_PARAMS, **params}
        node = DepthMasterNode(estimator=estimator, context=ros_context,
                               parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
        ros_executor.add_node(node)
        rig = CamerasRig(ros_executor, ros_context, node)
        assert rig.wait_for_node()
        return node, rig
    return start
