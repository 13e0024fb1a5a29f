"""DepthMasterNode in-process over real DDS: a rig node publishes a synthetic scene and listens to
every output; results are compared with DepthPipeline run on the same frame."""
import numpy as np
import pytest

from depthmaster_ros.conversions import encode_compressed, read_points, unpack_rgb, xyz_cloud_fields
from depthmaster_ros.geometry import RigidTransform, TransformBuffer
from depthmaster_ros.model import processing_size
from depthmaster_ros.pipeline import DepthPipeline, FrameInput

from fixtures_estimators import SceneTruthEstimator
from fixtures_node import OUTPUTS, decode_image, header_ns, status_value
from fixtures_pipeline import CAMERA_FRAME, LIDAR_FRAME, frame_input, pipeline_config

pytestmark = pytest.mark.ros


def reference_output(estimator, frame, stamp_ns, transforms=None, **params):
    """What DepthPipeline computes for the same frame and parameters."""
    return DepthPipeline(estimator, pipeline_config(**params)).process(
        frame_input(frame, stamp_ns=stamp_ns, transforms=transforms if transforms is not None else TransformBuffer()))


# end to end ---------------------------------------------------------------------------------------------------
def test_fixed_mode_outputs_match_the_pipeline(start_node, tiny_estimator, frames):
    params = dict(alignment_mode='fixed', fixed_scale=0.6, fixed_shift=0.1, cloud_organized=True, cloud_stride=2,
                  publish_depth_mm=True)
    node, rig = start_node(tiny_estimator, **params)
    stamp_ns = 1_700_000_000_123_456_789
    rig.publish_frame(frames[0], stamp_ns, cloud=False)
    assert rig.spin_until(lambda: all(rig.count(t) for t in OUTPUTS + ('depth/image_mm',)))
    expected = reference_output(tiny_estimator, frames[0], stamp_ns, **params)

    for topic in OUTPUTS + ('depth/image_mm',):
        msg = rig.received[topic][0]
        assert header_ns(msg) == stamp_ns and msg.header.frame_id == CAMERA_FRAME, topic
    depth = decode_image(rig.received['depth/image'][0])
    assert rig.received['depth/image'][0].encoding == '32FC1'
    np.testing.assert_array_equal(depth, expected.depth_m)
    np.testing.assert_array_equal(decode_image(rig.received['depth/relative'][0]), expected.relative)
    millimetres = decode_image(rig.received['depth/image_mm'][0])
    finite = np.isfinite(depth)
    assert millimetres.dtype == np.uint16 and np.all(millimetres[~finite] == 0)
    np.testing.assert_allclose(millimetres[finite & (depth < 65)], np.round(depth[finite & (depth < 65)] * 1000), atol=1)

    info = rig.received['depth/camera_info'][0]
    assert (info.width, info.height) == (128, 96)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), frames[0].camera.K)

    alignment = rig.received['depth/alignment'][0]
    assert alignment.mode == 'fixed' and alignment.ok and alignment.scale == pytest.approx(0.6)
    assert alignment.space == 'sqrt_disparity' and alignment.backend == 'depthmaster'

    cloud = rig.received['depth/points'][0]
    assert (cloud.height, cloud.width) == (48, 64)
    points = read_points(cloud)
    xyz = np.stack([points['x'], points['y'], points['z']], axis=-1).reshape(48, 64, 3)
    np.testing.assert_array_equal(xyz[..., 2], depth[::2, ::2])          # z is the depth
    rays = frames[0].camera.pixel_rays(2)
    np.testing.assert_allclose(xyz[..., 0], rays[..., 0] * depth[::2, ::2], rtol=1e-5, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(xyz[..., 1], rays[..., 1] * depth[::2, ::2], rtol=1e-5, atol=1e-6, equal_nan=True)
    r, g, b = unpack_rgb(points['rgb'])
    np.testing.assert_array_equal(np.stack([r, g, b], -1).reshape(48, 64, 3), frames[0].rgb[::2, ::2])


def test_cloud_above_cloud_max_points_is_withheld_counted_and_reported(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', cloud_max_points=100, diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1)
    assert rig.count('depth/image') == 1 and rig.count('depth/points') == 0      # the rest is still published
    assert node.faults.count('cloud_max_points') == 1
    assert 'cloud_max_points 100' in node.faults.last_messages()['cloud_max_points']

    def reported(key):                   # the fault on the inputs status, the skipped cloud on the pipeline's
        return any(status_value(s, key) == '1' for d in rig.received['/diagnostics'] for s in d.status)
    assert rig.spin_until(lambda: reported('cloud_max_points') and reported('skipped_cloud'), 5)


def test_lidar_mode_with_tf_static_matches_the_pipeline(start_node, frames):
    estimator = SceneTruthEstimator(frames)
    node, rig = start_node(estimator, alignment_mode='lidar', cloud_organized=False)
    rig.publish_static_transform(frames[0].lidar_to_camera, CAMERA_FRAME, LIDAR_FRAME)
    assert rig.spin_until(lambda: node.transforms.can_transform(CAMERA_FRAME, LIDAR_FRAME), 10)
    stamp_ns = 2_000_000_000
    rig.publish_frame(frames[0], stamp_ns, encoding='bgr8')
    assert rig.spin_until(lambda: rig.count('depth/alignment') and rig.count('depth/points'))
    buffer = TransformBuffer()
    buffer.set_transform(CAMERA_FRAME, LIDAR_FRAME, frames[0].lidar_to_camera, static=True)
    expected = reference_output(estimator, frames[0], stamp_ns, transforms=buffer, alignment_mode='lidar',
                                cloud_organized=False)
    alignment = rig.received['depth/alignment'][0]
    assert alignment.ok, alignment.reason
    assert alignment.num_points == expected.record.num_points and alignment.scale == pytest.approx(expected.record.scale)
    depth = decode_image(rig.received['depth/image'][0])
    np.testing.assert_array_equal(depth, expected.depth_m)
    both = np.isfinite(depth) & np.isfinite(frames[0].depth)
    assert np.mean(np.abs(depth[both] - frames[0].depth[both]) < 1e-2 * frames[0].depth[both]) > 0.99
    cloud = rig.received['depth/points'][0]
    assert cloud.height == 1 and cloud.width == len(expected.points)
    # a model without its own confidence (DepthMaster, this stand-in) publishes the alignment confidence
    assert rig.spin_until(lambda: rig.count('depth/confidence'))
    np.testing.assert_array_equal(decode_image(rig.received['depth/confidence'][0]), expected.confidence)


def test_lidar_mode_uses_the_parameter_transform_without_tf(start_node, frames):
    t, q = frames[0].lidar_to_camera.to_translation_quaternion()
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='lidar',
                           lidar_to_camera=[float(v) for v in t] + [float(v) for v in q], lidar_frame=LIDAR_FRAME)
    rig.publish_frame(frames[0], 3_000_000_000)
    assert rig.spin_until(lambda: rig.count('depth/alignment'))
    assert rig.received['depth/alignment'][0].ok
    assert rig.count('depth/image') == 1


def test_stale_cloud_gives_no_fit_and_says_why(start_node, frames):
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='lidar', max_cloud_age_s=0.05,
                           lidar_to_camera=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], lidar_frame=LIDAR_FRAME)
    from depthmaster_ros.ros import messages
    rig.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(frames[0].lidar_points),
                                              messages.header_msg(1_000_000_000, LIDAR_FRAME)))
    rig.spin_until(lambda: len(node.clouds.snapshot()) == 1, 5)
    rig.publish_frame(frames[0], 1_500_000_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment'))
    alignment = rig.received['depth/alignment'][0]
    assert not alignment.ok and 'older than the image' in alignment.reason
    assert rig.count('depth/image') == 0 and rig.count('depth/relative') == 1
    assert node.faults.count('points_missing') == 1


# flooding ----------------------------------------------------------------------------------------------------
def test_flood_keeps_only_the_newest_frame_and_counts_drops(start_node, tiny_estimator, frames):
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', publish_cloud=False)
    stamps = [10_000_000_000 + i * 1_000_000 for i in range(30)]
    rig.publish_frame(frames[0], stamps[0] - 1, cloud=False)
    stamps.insert(0, stamps[0] - 1)
    for stamp_ns in stamps[1:]:                                        # each image with its camera_info, no waiting
        rig.info_pub.publish(messages.camera_info_msg(frames[0].camera.to_camera_info_fields(),
                                                      messages.header_msg(stamp_ns, CAMERA_FRAME)))
        rig.publish_frame(frames[stamps.index(stamp_ns) % len(frames)], stamp_ns, cloud=False, camera_info=False)
        rig.executor.spin_once(timeout_sec=0)
    newest_published = lambda: rig.count('depth/image') and header_ns(rig.received['depth/image'][-1]) == stamps[-1]  # noqa: E731
    assert rig.spin_until(newest_published, 60)                       # the newest frame always wins
    counters = node.mailbox.counters()
    published = [header_ns(m) for m in rig.received['depth/image']]
    assert published == sorted(published) and set(published) <= set(stamps)
    assert counters['received'] == counters['processed'] + counters['dropped']
    assert counters['dropped'] > 0 and counters['processed'] == len(published) < len(stamps)
    assert rig.spin_until(lambda: any(status_value(s, 'frames_dropped') not in (None, '0')
                                      for d in rig.received['/diagnostics'] for s in d.status), 5)


# parameters ----------------------------------------------------------------------------------------------------
def test_runtime_parameter_changes_apply_to_the_next_frame(start_node, tiny_estimator, frames):
    from rclpy.parameter import Parameter
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', output_resolution='processing', processing_res=64)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1)
    assert (rig.received['depth/relative'][0].width, rig.received['depth/relative'][0].height) == (64, 48)

    results = node.set_parameters([Parameter('processing_res', value=96), Parameter('fixed_scale', value=0.5)])
    assert all(r.successful for r in results)
    rig.publish_frame(frames[1], 2_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 2)
    width, height = processing_size(128, 96, 96)
    assert (rig.received['depth/relative'][1].width, rig.received['depth/relative'][1].height) == (width, height)
    assert rig.received['depth/alignment'][1].scale == pytest.approx(0.5)


@pytest.mark.parametrize('name, value, fragment', [
    ('processing_res', 99_999, 'processing_res'),
    ('alignment_mode', 'sonar', 'one of'),
    ('min_depth', 500.0, 'max_depth'),
    ('model', 'other/model', 'read-only'),
    ('backend', 'marigold', 'read-only'),
])
def test_invalid_parameter_values_are_rejected_and_the_old_value_kept(start_node, tiny_estimator, name, value, fragment):
    from rclpy.parameter import Parameter
    node, _ = start_node(tiny_estimator, alignment_mode='fixed')
    before = node.get_parameter(name).value
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and fragment in result.reason
    assert node.get_parameter(name).value == before
    assert node.current_params()[name] == before


def test_descriptors_carry_ranges_and_read_only(start_node, tiny_estimator):
    node, _ = start_node(tiny_estimator, alignment_mode='none')
    descriptor = node.describe_parameter('processing_res')
    assert descriptor.integer_range[0].to_value == 4096 and not descriptor.read_only
    assert node.describe_parameter('model').read_only
    assert 'lidar' in node.describe_parameter('alignment_mode').description
    assert node.describe_parameter('max_depth').floating_point_range[0].from_value == pytest.approx(0.01)


# compressed input ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('codec', ['png', 'jpeg'])
def test_compressed_input_matches_raw(start_node, tiny_estimator, frames, codec):
    from depthmaster_ros.conversions import compressed_to_rgb8
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, image_transport='compressed', alignment_mode='none')
    fmt, data = encode_compressed(frames[0].rgb, codec, quality=95)
    msg = messages.compressed_image_msg(fmt, data, messages.header_msg(5_000, CAMERA_FRAME))
    rig.compressed_pub.publish(msg)
    assert rig.spin_until(lambda: rig.count('depth/alignment'))
    relative = decode_image(rig.received['depth/relative'][0])
    assert header_ns(rig.received['depth/relative'][0]) == 5_000
    decoded = compressed_to_rgb8(msg)
    if codec == 'png':                                  # lossless: the very same result as raw
        np.testing.assert_array_equal(decoded, frames[0].rgb)
        expected = reference_output(tiny_estimator, frames[0], 5_000, alignment_mode='none').relative
        np.testing.assert_array_equal(relative, expected)
    else:                                               # lossy: within the codec's pixel error
        assert np.mean(np.abs(decoded.astype(int) - frames[0].rgb)) < 3.0
        pipeline = DepthPipeline(tiny_estimator, pipeline_config(alignment_mode='none'))
        expected = pipeline.process(FrameInput(rgb=decoded, stamp_ns=5_000, frame_id=CAMERA_FRAME)).relative
        np.testing.assert_array_equal(relative, expected)
        raw = reference_output(tiny_estimator, frames[0], 5_000, alignment_mode='none').relative
        assert np.mean(np.abs(relative - raw)) < 0.05


# bad input ----------------------------------------------------------------------------------------------------------
def test_bad_inputs_are_counted_and_never_stop_the_node(start_node, tiny_estimator, frames):
    from sensor_msgs.msg import CameraInfo, Image

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', max_pixels=20_000)
    header = messages.header_msg(1_000, CAMERA_FRAME)
    good = messages.image_msg(frames[0].rgb, 'rgb8', header)
    bad_images = [
        Image(header=header, height=96, width=128, encoding='yuv422_weird', step=384, data=good.data),
        Image(header=header, height=96, width=128, encoding='rgb8', step=100, data=good.data),
        Image(header=header, height=96, width=128, encoding='rgb8', step=384, data=good.data[:1000]),
        Image(header=header, height=0, width=0, encoding='rgb8', step=0),
        messages.image_msg(np.zeros((200, 200, 3), np.uint8), 'rgb8', header),           # above max_pixels
    ]
    for msg in bad_images:
        rig.image_pub.publish(msg)
    rig.info_pub.publish(CameraInfo(header=header, width=128, height=96))                  # all-zero K
    assert rig.spin_until(lambda: node.faults.count('image') == 5 and node.faults.count('camera_info') == 1)
    assert 'k:' in node.faults.last_messages()['camera_info']
    unknown_model = messages.camera_info_msg(frames[0].camera.to_camera_info_fields(), header)
    unknown_model.distortion_model, unknown_model.d = 'fisheye_of_my_own', [0.1, 0.0, 0.0, 0.0, 0.0]
    rig.info_pub.publish(unknown_model)
    assert rig.spin_until(lambda: node.faults.count('camera_info') == 2)
    assert 'distortion_model' in node.faults.last_messages()['camera_info']
    assert rig.count('depth/relative') == 0

    # a good frame right after still comes through
    rig.publish_frame(frames[0], 2_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1)
    # and the faults show on /diagnostics as a warning with the reason
    def inputs_warn():
        for array in rig.received['/diagnostics']:
            for status in array.status:
                if status.name.endswith('inputs') and status.level == b'\x01' and status_value(status, 'image') == '5':
                    return True
        return False
    assert rig.spin_until(inputs_warn, 5)


def test_bad_clouds_and_corrupt_compressed_images_are_counted(start_node, tiny_estimator, frames):
    from sensor_msgs.msg import PointCloud2, PointField

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='lidar', image_transport='compressed',
                           lidar_to_camera=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], lidar_frame=LIDAR_FRAME)
    header = messages.header_msg(1_000, LIDAR_FRAME)
    no_xyz = PointCloud2(header=header, height=1, width=2, point_step=4, row_step=8,
                         fields=[PointField(name='intensity', offset=0, datatype=PointField.FLOAT32, count=1)])
    no_xyz.data = bytes(8)
    short_step = messages.cloud_msg(xyz_cloud_fields(frames[0].lidar_points[:10]), header)
    short_step.point_step = 8
    all_nan = messages.cloud_msg(xyz_cloud_fields(np.full((10, 3), np.nan, np.float32)), header)
    for msg in (no_xyz, short_step, all_nan):
        rig.points_pub.publish(msg)
    assert rig.spin_until(lambda: node.faults.count('points') == 2 and node.faults.count('points_empty') == 1)
    assert 'x' in node.faults.last_messages()['points'] or 'point_step' in node.faults.last_messages()['points']

    corrupt = messages.compressed_image_msg('rgb8; jpeg compressed bgr8', b'not a jpeg at all',
                                            messages.header_msg(2_000, CAMERA_FRAME))
    rig.compressed_pub.publish(corrupt)
    assert rig.spin_until(lambda: node.faults.count('image') == 1)
    assert node.clouds.snapshot() == [] and rig.count('depth/relative') == 0


def test_non_increasing_and_empty_frame_ids_warn_but_publish(start_node, tiny_estimator, frames):
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='none')
    rig.image_pub.publish(messages.image_msg(frames[0].rgb, 'rgb8', messages.header_msg(5_000, CAMERA_FRAME)))
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1)
    rig.image_pub.publish(messages.image_msg(frames[1].rgb, 'rgb8', messages.header_msg(4_000, '')))
    assert rig.spin_until(lambda: rig.count('depth/relative') == 2)
    second = rig.received['depth/relative'][1]
    assert header_ns(second) == 4_000 and second.header.frame_id == ''
    assert node.faults.count('image_stamp_order') == 1 and node.faults.count('image_frame_id') == 1


def test_missing_camera_info_waits_then_publishes_relative_only(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='lidar', camera_info_timeout_s=0.5)
    rig.publish_frame(frames[0], 1_000, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1)     # released after the timeout
    alignment = rig.received['depth/alignment'][0]
    assert header_ns(alignment) == 1_000 and not alignment.ok and 'no camera_info for this image within' in alignment.reason
    assert rig.count('depth/relative') == 1 and rig.count('depth/image') == 0 and rig.count('depth/camera_info') == 0
    assert node.faults.count('camera_info_missing') == 1


def test_camera_info_of_another_size_is_never_applied(start_node, tiny_estimator, frames):
    """Neither scaled (same aspect) nor used at another aspect: relative depth only, counted."""
    from depthmaster_ros.geometry import CameraModel
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed')
    for index, camera in enumerate((frames[0].camera.scaled(64, 48), CameraModel.pinhole(100, 100, 80.0))):
        stamp = 1_000 * (index + 1)
        rig.info_pub.publish(messages.camera_info_msg(camera.to_camera_info_fields(),
                                                      messages.header_msg(stamp, CAMERA_FRAME)))
        rig.publish_frame(frames[index], stamp, camera_info=False, cloud=False)
        assert rig.spin_until(lambda expected=index + 1: rig.count('depth/relative') == expected)
    assert node.faults.count('camera_info_size') == 2
    assert rig.count('depth/camera_info') == 0 and rig.count('depth/image') == 0 and rig.count('depth/points') == 0
    rig.publish_frame(frames[2], 3_000, cloud=False)                     # its own camera_info: metres again
    assert rig.spin_until(lambda: rig.count('depth/camera_info') == 1 and rig.count('depth/image') == 1)


def test_diagnostics_report_model_and_alignment(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1)

    def statuses():
        for array in reversed(rig.received['/diagnostics']):
            by_name = {s.name.split(': ')[-1]: s for s in array.status}
            if by_name['alignment'].level == b'\x00' and status_value(by_name['pipeline'], 'frames_processed') == '1':
                return by_name
        return None
    found = rig.spin_until(statuses, 5)
    assert found
    assert status_value(found['model'], 'device') == 'cpu' and status_value(found['model'], 'backend') == 'depthmaster'
    assert status_value(found['alignment'], 'mode') == 'fixed'
    assert float(status_value(found['pipeline'], 'stage_inference_s')) > 0
    assert found['pipeline'].name.startswith(node.get_name())


def test_transform_listener_skips_bad_transforms(start_node, tiny_estimator):
    node, rig = start_node(tiny_estimator, alignment_mode='none')
    rig.publish_static_transform(RigidTransform.identity(), 'same', 'same')              # its own parent
    rig.publish_static_transform(RigidTransform.identity(), CAMERA_FRAME, LIDAR_FRAME)
    assert rig.spin_until(lambda: node.transforms.can_transform(CAMERA_FRAME, LIDAR_FRAME), 10)
    assert node.faults.count('tf') == 1


def test_marigold_loaded_from_parameters_publishes_confidence(start_node, tiny_marigold_dir, frames):
    node, rig = start_node(None, backend='marigold', model=str(tiny_marigold_dir), marigold_steps=1,
                           marigold_ensemble_size=2, alignment_mode='none')
    rig.publish_frame(frames[0], 7_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment'), 60)
    assert rig.count('depth/confidence') == 1
    confidence = decode_image(rig.received['depth/confidence'][0])
    assert confidence.shape == (96, 128) and np.all((confidence >= 0) & (confidence <= 1))
    assert rig.received['depth/alignment'][0].space == 'depth'
    assert rig.received['depth/alignment'][0].backend == 'marigold'


def test_switching_to_lidar_at_runtime_subscribes_to_points(start_node, tiny_estimator):
    from rclpy.parameter import Parameter
    node, rig = start_node(tiny_estimator, alignment_mode='none')
    assert node.points_sub is None
    assert node.set_parameters([Parameter('alignment_mode', value='lidar')])[0].successful
    assert node.points_sub is not None
    assert rig.spin_until(lambda: rig.points_pub.get_subscription_count() > 0, 5)
