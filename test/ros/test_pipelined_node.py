"""The node's pipelined frame path over real DDS: a frame waiting for the forward is still replaced by a
newer one, outputs keep their order, and the outputs equal the serial node's (frames_in_flight 1)."""
import threading

import numpy as np
import pytest

from fixtures_estimators import CountingEstimator, SceneTruthEstimator
from fixtures_node import decode_image, header_ns
from fixtures_pipeline import CAMERA_FRAME, LIDAR_FRAME

pytestmark = pytest.mark.ros


def test_a_frame_waiting_for_the_forward_is_replaced_and_outputs_keep_their_order(start_node, tiny_estimator,
                                                                                   frames):
    gate = threading.Event()
    node, rig = start_node(CountingEstimator(tiny_estimator, gate=gate), alignment_mode='none', frames_in_flight=3)
    rig.publish_frame(frames[0], 1_000, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: node.mailbox.counters()['processed'] == 1, 10)     # its forward waits at the gate
    for index, stamp in enumerate((2_000, 3_000, 4_000)):
        rig.publish_frame(frames[index + 1], stamp, camera_info=False, cloud=False)
        assert rig.spin_until(lambda sent=index + 2: node.mailbox.counters()['received'] == sent, 10)
    assert node.mailbox.counters()['processed'] == 1          # free slots, but no frame taken during the forward
    gate.set()
    assert rig.spin_until(lambda: len(rig.received['depth/relative']) == 2, 20)
    rig.spin_until(lambda: False, 0.5)                        # and nothing more comes
    assert [header_ns(m) for m in rig.received['depth/relative']] == [1_000, 4_000]
    assert node.mailbox.counters()['dropped'] == 2


def run_node(start_node, ros_executor, estimator, frames, in_flight):
    """Eight frames, each published once the last was taken (the pipeline stays full, nothing is dropped)."""
    node, rig = start_node(estimator, frames_in_flight=in_flight, temporal_smoothing=0.5, min_points=10)
    rig.publish_static_transform(frames[0].lidar_to_camera, CAMERA_FRAME, LIDAR_FRAME)
    assert rig.spin_until(lambda: node.transforms.can_transform(CAMERA_FRAME, LIDAR_FRAME), 10)
    for index in range(8):
        rig.publish_frame(frames[index % len(frames)], (index + 1) * 100_000_000)
        assert rig.spin_until(lambda taken=index + 1: node.mailbox.counters()['processed'] == taken, 10)
    assert rig.spin_until(lambda: len(rig.received['depth/alignment']) == 8 and len(rig.received['depth/image']) == 8
                          and len(rig.received['depth/points']) == 8, 30)
    outputs = {name: list(rig.received[name]) for name in ('depth/image', 'depth/points', 'depth/alignment')}
    assert node.mailbox.counters()['dropped'] == 0
    for one in (node, rig.node):
        ros_executor.remove_node(one)
        one.destroy_node()
    return outputs


def test_pipelined_node_publishes_what_the_serial_node_publishes(start_node, ros_executor, frames):
    estimator = SceneTruthEstimator(frames)                   # fits succeed: the temporal fit is carried along
    serial = run_node(start_node, ros_executor, estimator, frames, 1)
    pipelined = run_node(start_node, ros_executor, estimator, frames, 3)
    stamps = [header_ns(m) for m in pipelined['depth/image']]
    assert stamps == sorted(stamps) == [header_ns(m) for m in serial['depth/image']]
    for expected, got in zip(serial['depth/image'], pipelined['depth/image']):
        np.testing.assert_array_equal(decode_image(expected), decode_image(got))
    for expected, got in zip(serial['depth/points'], pipelined['depth/points']):
        assert bytes(expected.data) == bytes(got.data) and expected.width == got.width
    assert all(m.ok for m in serial['depth/alignment'])
    for expected, got in zip(serial['depth/alignment'], pipelined['depth/alignment']):
        assert (expected.scale, expected.shift, expected.num_inliers) == (got.scale, got.shift, got.num_inliers)
