"""Messages that send the reader the right way: a missing camera_info names the topics the node listens
on, a refused camera_info says why in depth/alignment, runtime parameter changes are logged, and a
parameter of the wrong type is refused naming it and both types."""
import pytest

from fixtures_pipeline import CAMERA_FRAME

pytestmark = pytest.mark.ros

STAMP = 7_000_000_000


def test_a_missing_camera_info_names_the_topics_the_node_listens_on(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', camera_info_timeout_s=0.3)
    rig.publish_frame(frames[0], STAMP, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    reason = rig.received['depth/alignment'][0].reason
    assert 'no camera_info for this image within camera_info_timeout_s' in reason
    assert 'camera_info from /camera_info' in reason and 'images from /image' in reason
    assert 'camera_info from /camera_info' in node.faults.last_messages()['camera_info_missing']


def test_a_camera_info_refused_for_a_zero_k_says_so_in_the_alignment_record(start_node, tiny_estimator, frames):
    from sensor_msgs.msg import CameraInfo

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed')
    zero_k = messages.camera_info_msg(frames[0].camera.to_camera_info_fields(), messages.header_msg(STAMP, CAMERA_FRAME))
    zero_k.k = [0.0] * 9
    assert isinstance(zero_k, CameraInfo)
    rig.info_pub.publish(zero_k)
    assert rig.spin_until(lambda: node.faults.count('camera_info') == 1, 10)
    rig.publish_frame(frames[0], STAMP, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    reason = rig.received['depth/alignment'][0].reason
    assert 'refused' in reason and 'camera matrix must be finite and non-zero' in reason, reason
    assert 'no camera info matched' not in reason


def test_a_runtime_parameter_change_is_logged(start_node, tiny_estimator, capfd):
    from rclpy.parameter import Parameter
    node, rig = start_node(tiny_estimator, alignment_mode='fixed')
    assert node.set_parameters([Parameter('fixed_scale', value=0.5)])[0].successful
    rig.spin_until(lambda: False, 0.3)
    assert 'parameters changed at runtime: fixed_scale 1.0 -> 0.5' in capfd.readouterr().err


@pytest.mark.parametrize('name, value, reason', [
    ('processing_res', 'big', "processing_res: expected type integer, got string 'big'"),
    ('publish_cloud', 1, 'publish_cloud: expected type bool, got integer 1'),
    ('lidar_to_camera', ['a'], "lidar_to_camera: expected type double_array, got string_array ['a']"),
])
def test_a_parameter_of_the_wrong_type_is_refused_naming_it_and_both_types(start_node, tiny_estimator, name, value,
                                                                             reason):
    from rclpy.parameter import Parameter
    node, _ = start_node(tiny_estimator, alignment_mode='fixed')
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and result.reason == reason


def test_an_integer_for_a_double_parameter_is_taken_as_the_double_it_means(start_node, tiny_estimator):
    from rclpy.parameter import Parameter
    node, _ = start_node(tiny_estimator, alignment_mode='fixed')
    assert node.set_parameters([Parameter('max_depth', value=30)])[0].successful
    assert node.config.alignment.max_depth == 30.0


def model_status(rig):
    rig.spin_until(lambda: any(s.name.endswith(': model') for d in rig.received['/diagnostics'] for s in d.status), 10)
    return next(s for d in reversed(rig.received['/diagnostics']) for s in d.status if s.name.endswith(': model'))


def test_random_weights_are_announced_at_start_and_on_the_model_status(start_node, tiny_model_dir, capfd):
    from diagnostic_msgs.msg import DiagnosticStatus
    _, rig = start_node(None, model=str(tiny_model_dir), alignment_mode='none', diagnostics_period_s=0.2)
    assert 'RANDOM WEIGHTS' in capfd.readouterr().err
    status = model_status(rig)
    assert status.level == DiagnosticStatus.WARN and status.message.startswith('RANDOM WEIGHTS')


def test_weights_not_marked_random_leave_the_model_status_ok(start_node, tiny_model_dir, tmp_path, capfd):
    import shutil

    from diagnostic_msgs.msg import DiagnosticStatus

    from depthmaster_ros.model import RANDOM_WEIGHTS_NOTE
    model = shutil.copytree(tiny_model_dir, tmp_path / 'model')
    (model / RANDOM_WEIGHTS_NOTE).unlink()
    _, rig = start_node(None, model=str(model), alignment_mode='none', diagnostics_period_s=0.2)
    assert 'RANDOM WEIGHTS' not in capfd.readouterr().err
    status = model_status(rig)
    assert status.level == DiagnosticStatus.OK and 'RANDOM' not in status.message
    assert any(kv.key == 'weights' and kv.value == f'weights: local directory {model.resolve()}' for kv in status.values)
