"""Over real DDS: the managed node driven through the lifecycle services (as nav2's lifecycle manager
does), and lazy processing (no subscriber to any depth output, no inference)."""
import gc
import weakref

import pytest

from fixtures_node import status_value
from fixtures_pipeline import CAMERA_FRAME
from fixtures_ros import spin_until

pytestmark = pytest.mark.ros


class Client:
    """Publishes images, calls the lifecycle services and records depth/relative and /diagnostics."""

    def __init__(self, executor, context, node_name='depthmaster_node', subscribe_outputs=True):
        from diagnostic_msgs.msg import DiagnosticArray
        from lifecycle_msgs.srv import ChangeState, GetState
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        self.executor = executor
        self.node = Node('lifecycle_client', context=context)
        executor.add_node(self.node)
        reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, 'image', reliable)
        self.relative, self.diagnostics = [], []
        if subscribe_outputs:
            self.node.create_subscription(Image, 'depth/relative', self.relative.append, reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, reliable)
        self.change = self.node.create_client(ChangeState, f'/{node_name}/change_state')
        self.get = self.node.create_client(GetState, f'/{node_name}/get_state')

    def call(self, client, request):
        assert spin_until(self.executor, client.service_is_ready, 10)
        future = client.call_async(request)
        assert spin_until(self.executor, future.done, 60)
        return future.result()

    def transition(self, label):
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        ids = {'configure': Transition.TRANSITION_CONFIGURE, 'activate': Transition.TRANSITION_ACTIVATE,
               'deactivate': Transition.TRANSITION_DEACTIVATE, 'cleanup': Transition.TRANSITION_CLEANUP}
        return self.call(self.change, ChangeState.Request(transition=Transition(id=ids[label]))).success

    def state(self):
        from lifecycle_msgs.srv import GetState
        return self.call(self.get, GetState.Request()).current_state.label

    def publish_image(self, frame, stamp_ns):
        from depthmaster_ros.ros import messages
        self.image_pub.publish(messages.image_msg(frame.rgb, 'rgb8', messages.header_msg(stamp_ns, CAMERA_FRAME)))


def test_lifecycle_transitions_load_work_stop_and_free_the_model(ros_context, ros_executor, tiny_model_dir, frames):
    from rclpy.parameter import Parameter

    from depthmaster_ros.ros import DepthMasterLifecycleNode
    params = {'model': str(tiny_model_dir), 'device': 'cpu', 'processing_res': 64, 'alignment_mode': 'none',
              'input_reliability': 'reliable'}
    node = DepthMasterLifecycleNode(context=ros_context,
                                    parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    ros_executor.add_node(node)
    client = Client(ros_executor, ros_context)
    assert client.state() == 'unconfigured'
    assert node.channels == [] and client.image_pub.get_subscription_count() == 0

    assert client.transition('configure') and client.state() == 'inactive'
    model = weakref.ref(node.channels[0].pipeline.estimator)                       # loaded on configure
    assert client.image_pub.get_subscription_count() == 0              # inactive: no subscriptions

    for round_ in range(2):                                            # activate works again after deactivate
        assert client.transition('activate') and client.state() == 'active'
        assert spin_until(ros_executor, lambda: client.image_pub.get_subscription_count() == 1
                          and node.channels[0].output_pubs['relative'].get_subscription_count() == 1, 10)
        before = len(client.relative)
        client.publish_image(frames[round_], 1_000_000_000 * (round_ + 1))
        assert spin_until(ros_executor, lambda expected=before + 1: len(client.relative) == expected, 30)
        assert client.transition('deactivate') and client.state() == 'inactive'
        assert spin_until(ros_executor, lambda: client.image_pub.get_subscription_count() == 0, 10)
        assert not node._worker.is_alive()

    assert client.transition('cleanup') and client.state() == 'unconfigured'
    gc.collect()
    assert node.channels == [] and model() is None                   # the model (and its memory) is gone
    assert client.transition('configure') and client.state() == 'inactive'


def test_plain_node_stays_the_default_and_the_cli_offers_the_managed_one():
    from depthmaster_ros.cli import build_parser
    args = build_parser().parse_args(['node', '--lifecycle'])
    assert args.lifecycle
    assert not build_parser().parse_args(['node']).lifecycle


def test_lazy_node_runs_no_inference_until_someone_subscribes(ros_context, ros_executor, tiny_estimator, frames):
    from rclpy.parameter import Parameter

    from depthmaster_ros.ros import DepthMasterNode
    params = {'processing_res': 64, 'device': 'cpu', 'alignment_mode': 'none', 'input_reliability': 'reliable',
              'diagnostics_period_s': 0.2}
    node = DepthMasterNode(estimator=tiny_estimator, context=ros_context,
                           parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    ros_executor.add_node(node)
    client = Client(ros_executor, ros_context, subscribe_outputs=False)
    assert spin_until(ros_executor, lambda: client.image_pub.get_subscription_count() == 1, 10)
    for index in range(3):
        client.publish_image(frames[index], 1_000_000_000 * (index + 1))
    assert spin_until(ros_executor, lambda: node.channels[0].health.outputs_skipped.get('lazy', 0) == 3, 10)

    def lazy_reported():
        return any(s.name.endswith(': pipeline') and s.message.startswith('lazy') and status_value(s, 'skipped_lazy')
                   for d in client.diagnostics for s in d.status)
    assert spin_until(ros_executor, lazy_reported, 10)
    assert node.mailbox.counters()['received'] == 0                     # nothing reached the model

    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    relative = []
    client.node.create_subscription(Image, 'depth/relative', relative.append,
                                    QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    assert spin_until(ros_executor, lambda: node.channels[0].output_pubs['relative'].get_subscription_count() == 1, 10)
    client.publish_image(frames[0], 9_000_000_000)
    assert spin_until(ros_executor, lambda: len(relative) == 1, 30)
