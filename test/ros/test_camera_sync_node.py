"""Over real DDS: each image takes the camera_info of its own stamp and size, and metres never go out
without that camera_info; frames of another LiDAR frame never use lidar_to_camera; bad stamps
cannot poison the latency statistics."""
import numpy as np
import pytest

from fixtures_estimators import SceneTruthEstimator
from fixtures_node import header_ns, status_value
from fixtures_pipeline import CAMERA_FRAME, LIDAR_FRAME

pytestmark = pytest.mark.ros


def test_interleaved_camera_info_of_another_stream_is_never_applied(start_node, frames):
    """A 640x480 camera_info at other stamps between the images: every frame keeps its own intrinsics."""
    from depthmaster_ros.geometry import CameraModel
    from depthmaster_ros.ros import messages
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='fixed')
    stranger = CameraModel.pinhole(640, 480, 499.5)
    for index in range(3):
        stamp = 1_000_000_000 + index * 100_000_000
        rig.publish_frame(frames[index], stamp, cloud=False)
        rig.info_pub.publish(messages.camera_info_msg(stranger.to_camera_info_fields(),
                                                      messages.header_msg(stamp + 50_000_000, CAMERA_FRAME)))
        assert rig.spin_until(lambda expected=index + 1: rig.count('depth/camera_info') == expected, 30)
    for info, frame in zip(rig.received['depth/camera_info'], frames):
        assert (info.width, info.height) == (128, 96)
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), frame.camera.K)
    # camera_info is published before its depth image: the third image may still be on its way
    assert rig.spin_until(lambda: rig.count('depth/image') == 3, 30)


def test_metric_depth_never_goes_out_without_its_camera_info(start_node, frames):
    """A good frame, then frames whose camera_info is of another size or never comes: relative only."""
    from depthmaster_ros.geometry import CameraModel
    from depthmaster_ros.ros import messages
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='fixed', camera_info_timeout_s=0.3,
                           hold_s=10.0)
    rig.publish_frame(frames[0], 1_000_000_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 30)
    other_aspect = CameraModel.pinhole(100, 100, 80.0)
    rig.info_pub.publish(messages.camera_info_msg(other_aspect.to_camera_info_fields(),
                                                  messages.header_msg(2_000_000_000, CAMERA_FRAME)))
    rig.publish_frame(frames[1], 2_000_000_000, camera_info=False, cloud=False)
    rig.publish_frame(frames[2], 3_000_000_000, camera_info=False, cloud=False)     # no camera_info at all
    assert rig.spin_until(lambda: rig.count('depth/relative') == 3, 30)
    depth_stamps = {header_ns(m) for m in rig.received['depth/image']}
    info_stamps = {header_ns(m) for m in rig.received['depth/camera_info']}
    assert depth_stamps == info_stamps == {1_000_000_000}
    assert node.faults.count('camera_info_size') == 1
    assert node.faults.count('camera_info_missing') + node.faults.count('camera_info_unmatched') == 1
    reasons = [m.reason for m in rig.received['depth/alignment'][1:]]
    assert all('camera_info' in reason and 'relative depth only' in reason for reason in reasons), reasons


def test_lidar_to_camera_applies_only_to_the_lidar_frame(start_node, frames):
    from depthmaster_ros.conversions import xyz_cloud_fields
    from depthmaster_ros.ros import messages
    t, q = frames[0].lidar_to_camera.to_translation_quaternion()
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='lidar', use_tf=False, lidar_frame=LIDAR_FRAME,
                           lidar_to_camera=[float(v) for v in t] + [float(v) for v in q])
    stamp = 1_000_000_000
    rig.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(frames[0].lidar_points),
                                              messages.header_msg(stamp, 'mystery_lidar')))
    assert rig.spin_until(lambda: any(c.stamp_ns == stamp for c in node.clouds.snapshot()), 10)
    rig.publish_frame(frames[0], stamp, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    alignment = rig.received['depth/alignment'][0]
    assert not alignment.ok and "lidar_frame 'lidar" in alignment.reason and 'mystery_lidar' in alignment.reason
    assert rig.count('depth/image') == 0


@pytest.mark.parametrize('transform', [[0.0] * 7, [0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5]])
def test_a_quaternion_of_other_than_unit_norm_is_refused_at_start_and_at_set_time(start_node, tiny_estimator,
                                                                                 transform):
    from rclpy.parameter import Parameter

    from depthmaster_ros.config import Config
    with pytest.raises(ValueError, match='unit quaternion'):
        Config.from_params({'lidar_to_camera': transform, 'lidar_frame': 'lidar'})
    node, rig = start_node(tiny_estimator, lidar_frame='lidar')
    result = node.set_parameters([Parameter('lidar_to_camera', Parameter.Type.DOUBLE_ARRAY, transform)])[0]
    assert not result.successful and 'unit quaternion' in result.reason
    assert node.config.alignment.lidar_to_camera == ()
    result = node.set_parameters([Parameter('lidar_to_camera', Parameter.Type.DOUBLE_ARRAY, [0.0] * 6 + [1.0])])[0]
    assert result.successful


def test_lidar_to_camera_without_lidar_frame_is_refused():
    from depthmaster_ros.config import Config
    with pytest.raises(ValueError, match="'lidar_frame' is empty"):
        Config.from_params({'lidar_to_camera': [0.0] * 6 + [1.0]})


def test_zero_and_backward_stamps_do_not_poison_latency(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='none', diagnostics_period_s=0.2)
    for index, stamp in enumerate((5_000_000_000, 0, 4_000_000_000, 1_000)):
        rig.publish_frame(frames[index % len(frames)], stamp, camera_info=False, cloud=False)
        assert rig.spin_until(lambda expected=index + 1: rig.count('depth/relative') == expected, 30)

    def pipeline_values():
        for array in reversed(rig.received['/diagnostics']):
            for status in array.status:
                if status.name.endswith(': pipeline') and status_value(status, 'frames_stamp_zero') == '1' \
                        and status_value(status, 'frames_stamp_backward') == '1':
                    return status
        return None
    assert rig.spin_until(lambda: pipeline_values() is not None, 10)
    latency = float(status_value(pipeline_values(), 'latency_mean_s'))
    # stamp-based latency would be about 1.9e9 s here (the clock is wall time, two stamps are near zero)
    assert 0.0 <= latency < 60.0
