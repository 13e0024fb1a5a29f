"""A node serving several cameras over real DDS: topics under each camera's namespace, one batched
forward for the frames pending together, each camera's newest frame wins on its own, and the
warm-up at start covers every batch size the cameras can form."""
import threading

import numpy as np
import pytest

from depthmaster_ros.pipeline import DepthPipeline

from fixtures_estimators import CountingEstimator
from fixtures_node import CAMERAS, decode_image
from fixtures_node import MULTI_CAMERA_PARAMS as PARAMS
from fixtures_pipeline import frame_input, pipeline_config
from fixtures_ros import spin_until

pytestmark = pytest.mark.ros


def test_pending_frames_of_both_cameras_share_one_forward_and_publish_under_their_namespace(
        start_cameras_node, tiny_estimator, frames):
    gate = threading.Event()
    counting = CountingEstimator(tiny_estimator, gate=gate)
    node, rig = start_cameras_node(counting)
    assert [c.name for c in node.channels] == list(CAMERAS)
    rig.publish('front', frames[0], 1_000)                         # taken at once; its forward waits at the gate
    assert spin_until(rig.executor, lambda: node.mailbox.counters()['processed'] == 1, 5)
    rig.publish('front', frames[1], 2_000)                         # replaced by the next front frame: dropped
    rig.publish('front', frames[2], 3_000)
    rig.publish('left', frames[1], 3_500)
    assert spin_until(rig.executor, lambda: node.mailbox.counters()['received'] == 4, 5)
    gate.set()
    assert spin_until(rig.executor, lambda: len(rig.stamps('front')) == 2 and len(rig.stamps('left')) == 1
                      and len(rig.received['left/depth/alignment']) == 1, 20)

    assert counting.batches == [1, 2]                              # front alone, then front + left together
    assert rig.stamps('front') == [1_000, 3_000] and rig.stamps('left') == [3_500]
    assert node.mailbox.counters(0) == {'received': 3, 'dropped': 1, 'processed': 2}
    assert node.mailbox.counters(1) == {'received': 1, 'dropped': 0, 'processed': 1}
    left = rig.received['left/depth/image'][0]
    assert left.header.frame_id == 'left_optical' and rig.received['front/depth/image'][1].header.frame_id == 'front_optical'
    # the batched frame is the frame alone, through a pipeline of its own
    alone = DepthPipeline(tiny_estimator, pipeline_config(processing_res=64, **PARAMS)).process(
        frame_input(frames[1], stamp_ns=3_500, with_cloud=False))
    np.testing.assert_allclose(decode_image(left), alone.depth_m, rtol=1e-4, atol=1e-5)
    assert rig.received['left/depth/alignment'][0].ok

    def camera_statuses():
        names = {s.name for d in rig.received['/diagnostics'] for s in d.status}
        return {f'{node.get_name()}: {c} {concern}' for c in CAMERAS for concern in ('pipeline', 'alignment')} <= names
    assert spin_until(rig.executor, camera_statuses, 5)


def test_warm_up_at_start_runs_each_size_at_every_batch_size_the_cameras_form(start_cameras_node, tiny_estimator):
    counting = CountingEstimator(tiny_estimator)
    node, rig = start_cameras_node(counting, warm_up_sizes=['128x96', '64x48'])
    assert counting.warm_ups == [([(128, 96), (64, 48)], 64, (1, 2))]
    assert counting.batches == []                                  # warm_up runs the model itself, not a frame

    def model_reports_the_warm_up():
        for array in rig.received['/diagnostics']:
            for status in array.status:
                keys = {kv.key: kv.value for kv in status.values}
                if status.name.endswith(': model') and keys.get('warm_up_shapes') == '4':
                    return float(keys['warm_up_s']) > 0
        return False
    assert spin_until(rig.executor, model_reports_the_warm_up, 5)
