"""Every kind of bad input through real DDS: the node counts it, logs it, reports it on /diagnostics
with the reason, publishes nothing for the bad message, and processes the next good frame."""
import numpy as np
import pytest

from depthmaster_ros.conversions import encode_compressed, xyz_cloud_fields

from fixtures_estimators import SceneTruthEstimator
from fixtures_node import decode_image, header_ns, status_value
from fixtures_pipeline import CAMERA_FRAME, LIDAR_FRAME

pytestmark = pytest.mark.ros

WARN = b'\x01'
GOOD_STAMP = 9_000_000_000
BAD_STAMP = 8_000_000_000
OUTPUT_TOPICS = ('depth/image', 'depth/relative', 'depth/points', 'depth/alignment', 'depth/camera_info')


def fault_reported(rig, kind, count, fragment):
    """An inputs status at WARN whose counter for kind is at least count and whose reason has fragment."""
    def found():
        for array in rig.received['/diagnostics']:
            for status in array.status:
                value = status_value(status, kind)
                if status.name.endswith(': inputs') and status.level == WARN and value is not None \
                        and int(value) >= count and fragment in (status_value(status, f'last_{kind}') or ''):
                    return True
        return False
    return rig.spin_until(found, 10)


def stamps_published(rig, topics=OUTPUT_TOPICS):
    return {header_ns(msg) for topic in topics for msg in rig.received[topic]}


def assert_survives(node, rig, frame, kind, count, fragment, bad_stamp=BAD_STAMP, expect_depth=True):
    """The fault is counted and reported; a good frame afterwards is published; nothing for the bad one."""
    assert rig.spin_until(lambda: node.faults.count(kind) >= count, 10), node.faults.counts()
    assert fragment in node.faults.last_messages()[kind]
    rig.publish_frame(frame, GOOD_STAMP, cloud=False)
    topic = 'depth/image' if expect_depth else 'depth/relative'
    assert rig.spin_until(lambda: GOOD_STAMP in {header_ns(m) for m in rig.received[topic]}, 30)
    assert bad_stamp not in stamps_published(rig)
    assert fault_reported(rig, kind, count, fragment)
    assert node.channels[0].health.worker_error == ''


# images ---------------------------------------------------------------------------------------------------------
def _image(frame, header, **fields):
    from sensor_msgs.msg import Image

    from depthmaster_ros.ros import messages
    good = messages.image_msg(frame.rgb, 'rgb8', header)
    values = dict(header=header, height=good.height, width=good.width, encoding='rgb8', step=good.step, data=good.data)
    values.update(fields)
    return Image(**values)


BAD_IMAGES = {
    'unknown encoding': (dict(encoding='yuv_of_my_own'), 'Image.encoding'),
    'step smaller than the row': (dict(step=100), 'Image.step'),
    'data shorter than step*height': (dict(data=bytes(1000)), 'Image.data'),
    'zero width and height': (dict(width=0, height=0, step=0, data=b''), 'at least one pixel'),
    'zero width': (dict(width=0), 'at least one pixel'),
    # 2.5e9 pixels claimed with 36 KB of data: refused on the header, before any buffer is touched
    'huge dimensions': (dict(width=50_000, height=50_000, step=150_000), 'max_pixels'),
    'depth encoding is not a colour image': (dict(encoding='32FC1', step=512, data=bytes(512 * 96)), '32FC1'),
}


@pytest.mark.parametrize('case', list(BAD_IMAGES))
def test_bad_raw_image_is_refused_counted_and_reported(start_node, tiny_estimator, frames, case):
    from depthmaster_ros.ros import messages
    fields, fragment = BAD_IMAGES[case]
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', diagnostics_period_s=0.2)
    rig.image_pub.publish(_image(frames[0], messages.header_msg(BAD_STAMP, CAMERA_FRAME), **fields))
    assert_survives(node, rig, frames[1], 'image', 1, fragment)
    assert node.mailbox.counters()['received'] == 1             # the bad image never reached the model


@pytest.mark.parametrize('codec, damage', [('png', 'garbage'), ('jpeg', 'truncated'), ('png', 'truncated'),
                                           ('png', 'empty'), ('jpeg', 'unknown format')])
def test_corrupt_compressed_image_is_refused(start_node, tiny_estimator, frames, codec, damage):
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, image_transport='compressed', alignment_mode='none',
                           diagnostics_period_s=0.2)
    fmt, data = encode_compressed(frames[0].rgb, codec)
    data = {'garbage': b'\x89PNG\r\n\x1a\n' + bytes(range(256)) * 4, 'truncated': data[:len(data) // 3],
            'empty': b'', 'unknown format': data}[damage]
    if damage == 'unknown format':
        fmt = 'rgb8; webp compressed bgr8'
    rig.compressed_pub.publish(messages.compressed_image_msg(fmt, data, messages.header_msg(BAD_STAMP, CAMERA_FRAME)))
    assert rig.spin_until(lambda: node.faults.count('image') == 1, 10), node.faults.counts()
    assert 'CompressedImage' in node.faults.last_messages()['image']
    good_fmt, good = encode_compressed(frames[1].rgb, 'png')
    rig.compressed_pub.publish(messages.compressed_image_msg(good_fmt, good, messages.header_msg(GOOD_STAMP, CAMERA_FRAME)))
    assert rig.spin_until(lambda: GOOD_STAMP in stamps_published(rig, ('depth/relative',)), 30)
    assert BAD_STAMP not in stamps_published(rig)
    assert fault_reported(rig, 'image', 1, 'CompressedImage')


def test_big_endian_16_bit_image_gives_the_same_depth_as_little_endian(start_node, tiny_estimator, frames):
    from sensor_msgs.msg import Image

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='none')
    grey = (frames[0].rgb.mean(axis=2) * 257).astype(np.uint16)
    for stamp_ns, order in ((1_000, '<'), (2_000, '>')):
        data = grey.astype(grey.dtype.newbyteorder(order)).tobytes()
        rig.image_pub.publish(Image(header=messages.header_msg(stamp_ns, CAMERA_FRAME), height=96, width=128,
                                    encoding='mono16', is_bigendian=int(order == '>'), step=256, data=data))
        assert rig.spin_until(lambda stamp_ns=stamp_ns: stamp_ns in stamps_published(rig, ('depth/relative',)), 30)
    little, big = (decode_image(m) for m in rig.received['depth/relative'])
    np.testing.assert_array_equal(big, little)
    assert np.isfinite(big).all() and node.faults.total() == 0


@pytest.mark.parametrize('width, height, encoding, padding', [(127, 95, 'rgb8', 3), (33, 17, 'mono8', 1),
                                                              (1, 1, 'bgr8', 0)])
def test_odd_sizes_and_row_padding_are_processed(start_node, tiny_estimator, frames, width, height, encoding, padding):
    from sensor_msgs.msg import Image

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='none')
    channels = 1 if encoding == 'mono8' else 3
    pixels = np.ascontiguousarray(np.resize(frames[0].rgb, (height, width, 3))[..., :channels])
    step = width * channels + padding
    rows = np.zeros((height, step), np.uint8)
    rows[:, :width * channels] = pixels.reshape(height, -1)
    rig.image_pub.publish(Image(header=messages.header_msg(1_000, CAMERA_FRAME), height=height, width=width,
                                encoding=encoding, step=step, data=rows.tobytes()))
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1, 30)
    relative = decode_image(rig.received['depth/relative'][0])
    assert relative.shape == (height, width) and np.isfinite(relative).all()
    assert node.faults.total() == 0


def test_image_too_thin_for_the_model_is_refused_with_the_reason(start_node, tiny_estimator, frames):
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='none', diagnostics_period_s=0.2)
    sliver = np.ascontiguousarray(frames[0].rgb[:1])                  # 128x1: 64x0 at processing_res 64
    rig.image_pub.publish(messages.image_msg(sliver, 'rgb8', messages.header_msg(BAD_STAMP, CAMERA_FRAME)))
    assert_survives(node, rig, frames[1], 'frame', 1, 'at least 8 pixels', expect_depth=False)


def test_resolution_change_mid_stream_is_reported_and_followed(start_node, frames):
    from depthmaster_ros.ros import messages
    from depthmaster_ros.synthetic import SyntheticScene
    half = SyntheticScene(width=64, height=48).render(0.5)
    node, rig = start_node(SceneTruthEstimator(list(frames) + [half]), alignment_mode='fixed', diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 30)
    # the image halves but the camera_info keeps the full size: intrinsics of another size are never applied
    full_info = messages.camera_info_msg(frames[0].camera.to_camera_info_fields(), messages.header_msg(2_000, CAMERA_FRAME))
    rig.info_pub.publish(full_info)
    assert rig.spin_until(lambda: node.channels[0].camera_sync.match(2_000) is not None, 10)
    rig.image_pub.publish(messages.image_msg(half.rgb, 'rgb8', messages.header_msg(2_000, CAMERA_FRAME)))
    assert rig.spin_until(lambda: rig.count('depth/relative') == 2, 30)
    assert rig.count('depth/image') == 1 and rig.count('depth/camera_info') == 1     # no metres without intrinsics
    assert fault_reported(rig, 'camera_info_size', 1, 'never applied')
    # with the camera_info of the new size, metres again
    rig.publish_frame(half, 3_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 2 and rig.count('depth/camera_info') == 2, 30)
    depth, info = rig.received['depth/image'][1], rig.received['depth/camera_info'][1]
    assert (depth.width, depth.height) == (info.width, info.height) == (64, 48)
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), half.camera.K)
    assert node.faults.count('image_size_change') == 1
    assert fault_reported(rig, 'image_size_change', 1, '128x96 to 64x48')


def test_zero_and_repeated_stamps_are_processed_with_a_warning(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', diagnostics_period_s=0.2)
    for index, stamp_ns in enumerate((5_000, 5_000, 0)):
        rig.publish_frame(frames[index], stamp_ns, cloud=False)
        assert rig.spin_until(lambda expected=index + 1: rig.count('depth/image') == expected, 30)
    assert [header_ns(m) for m in rig.received['depth/image']] == [5_000, 5_000, 0]
    assert node.faults.count('image_stamp_order') == 1 and node.faults.count('image_stamp_zero') == 1
    assert fault_reported(rig, 'image_stamp_order', 1, 'did not increase')
    assert fault_reported(rig, 'image_stamp_zero', 1, 'zero')


def test_empty_frame_id_is_processed_with_a_warning(start_node, tiny_estimator, frames):
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='none', diagnostics_period_s=0.2)
    rig.image_pub.publish(messages.image_msg(frames[0].rgb, 'rgb8', messages.header_msg(1_000, '')))
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1, 30)
    assert rig.received['depth/relative'][0].header.frame_id == ''
    assert fault_reported(rig, 'image_frame_id', 1, 'empty frame_id')


# camera_info -----------------------------------------------------------------------------------------------------
def test_missing_camera_info_warns_then_runs_relative_only(start_node, tiny_estimator, frames):
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', camera_info_timeout_s=3.0, diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: any(s.name.endswith(': pipeline') and s.level == WARN and 'camera_info' in s.message
                                      for d in rig.received['/diagnostics'] for s in d.status), 10)
    assert rig.count('depth/relative') == 0                            # waiting for the camera_info of its stamp
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1, 30)   # then, after the timeout, relative only
    assert header_ns(rig.received['depth/relative'][0]) == 1_000
    assert rig.count('depth/image') == 0 and rig.count('depth/camera_info') == 0 and rig.count('depth/points') == 0
    assert fault_reported(rig, 'camera_info_missing', 1, 'relative depth only')


def test_all_zero_k_and_unknown_distortion_are_refused(start_node, tiny_estimator, frames):
    from sensor_msgs.msg import CameraInfo

    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', diagnostics_period_s=0.2)
    header = messages.header_msg(BAD_STAMP, CAMERA_FRAME)
    rig.info_pub.publish(CameraInfo(header=header, width=128, height=96))
    assert rig.spin_until(lambda: node.faults.count('camera_info') == 1, 10)
    assert node.channels[0].camera_sync.match(BAD_STAMP)[0] is None               # stored as refused: its image gets no metres
    unknown = messages.camera_info_msg(frames[0].camera.to_camera_info_fields(), header)
    unknown.distortion_model, unknown.d = 'fisheye_of_my_own', [0.1, 0.0, 0.0, 0.0, 0.0]
    rig.info_pub.publish(unknown)
    assert_survives(node, rig, frames[0], 'camera_info', 2, 'distortion_model')


def test_camera_info_of_another_aspect_gives_relative_only(start_node, tiny_estimator, frames):
    from depthmaster_ros.geometry import CameraModel
    from depthmaster_ros.ros import messages
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', diagnostics_period_s=0.2)
    square = CameraModel.pinhole(100, 100, 80.0)
    rig.info_pub.publish(messages.camera_info_msg(square.to_camera_info_fields(),
                                                  messages.header_msg(BAD_STAMP, CAMERA_FRAME)))
    assert rig.spin_until(lambda: node.channels[0].camera_sync.match(BAD_STAMP) is not None, 10)
    rig.publish_frame(frames[0], BAD_STAMP, camera_info=False, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/relative') == 1, 30)
    assert rig.count('depth/camera_info') == 0 and rig.count('depth/points') == 0
    assert rig.count('depth/image') == 0
    assert fault_reported(rig, 'camera_info_size', 1, 'never applied')
    rig.publish_frame(frames[1], GOOD_STAMP, cloud=False)   # the right camera: a cloud again
    assert rig.spin_until(lambda: rig.count('depth/points') == 1, 30)


# point clouds ----------------------------------------------------------------------------------------------------
def _lidar_node(start_node, frames, **params):
    t, q = frames[0].lidar_to_camera.to_translation_quaternion()
    defaults = dict(alignment_mode='lidar', lidar_to_camera=[float(v) for v in t] + [float(v) for v in q],
                    lidar_frame=LIDAR_FRAME, diagnostics_period_s=0.2, min_points=10)
    return start_node(SceneTruthEstimator(frames), **{**defaults, **params})


def _bad_cloud(frame, kind, header):
    from sensor_msgs.msg import PointCloud2, PointField

    from depthmaster_ros.ros import messages
    if kind == 'empty':
        return messages.cloud_msg(xyz_cloud_fields(np.zeros((0, 3), np.float32)), header)
    if kind == 'nan and inf only':
        xyz = np.full((30, 3), np.nan, np.float32)
        xyz[::2] = np.inf
        return messages.cloud_msg(xyz_cloud_fields(xyz), header)
    if kind == 'no x/y/z fields':
        msg = PointCloud2(header=header, height=1, width=4, point_step=4, row_step=16,
                          fields=[PointField(name='intensity', offset=0, datatype=PointField.FLOAT32, count=1)])
        msg.data = bytes(16)
        return msg
    if kind == 'wrong point_step':
        msg = messages.cloud_msg(xyz_cloud_fields(frame.lidar_points[:50]), header)
        msg.point_step = 8
        return msg
    if kind == 'data shorter than row_step':
        msg = messages.cloud_msg(xyz_cloud_fields(frame.lidar_points[:50]), header)
        msg.data = bytes(msg.data)[:100]
        return msg
    raise AssertionError(kind)


@pytest.mark.parametrize('kind, counter, fragment', [
    ('empty', 'points_empty', 'no finite points'),
    ('nan and inf only', 'points_empty', 'no finite points'),
    ('no x/y/z fields', 'points', "'x'"),
    ('wrong point_step', 'points', 'point_step'),
    ('data shorter than row_step', 'points', 'PointCloud2.data'),
])
def test_bad_cloud_is_refused_and_the_image_gets_no_metres(start_node, frames, kind, counter, fragment):
    from depthmaster_ros.ros import messages
    node, rig = _lidar_node(start_node, frames, hold_s=0.0)
    rig.points_pub.publish(_bad_cloud(frames[0], kind, messages.header_msg(BAD_STAMP, LIDAR_FRAME)))
    assert rig.spin_until(lambda: node.faults.count(counter) == 1, 10), node.faults.counts()
    assert node.clouds.snapshot() == []
    rig.publish_frame(frames[0], BAD_STAMP, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    alignment = rig.received['depth/alignment'][0]
    assert not alignment.ok and 'no point cloud' in alignment.reason
    assert rig.count('depth/image') == 0 and rig.count('depth/points') == 0   # no metres from a bad cloud
    assert fault_reported(rig, counter, 1, fragment)
    rig.publish_frame(frames[1], GOOD_STAMP)                                   # a good cloud: metres again
    assert rig.spin_until(lambda: rig.count('depth/image') == 1 and rig.count('depth/alignment') == 2, 30)
    assert rig.received['depth/alignment'][1].ok


def test_finite_points_of_a_partly_broken_cloud_are_used(start_node, frames):
    from depthmaster_ros.ros import messages
    node, rig = _lidar_node(start_node, frames)
    xyz = frames[0].lidar_points.copy()
    xyz[::3] = np.nan
    xyz[1::3, 0] = np.inf
    rig.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(xyz), messages.header_msg(1_000, LIDAR_FRAME)))
    assert rig.spin_until(lambda: len(node.clouds.snapshot()) == 1, 10)
    assert np.isfinite(node.clouds.snapshot()[0].points).all()
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 30)
    depth = decode_image(rig.received['depth/image'][0])
    good = np.isfinite(depth) & np.isfinite(frames[0].depth)
    assert good.mean() > 0.5
    assert np.median(np.abs(depth[good] - frames[0].depth[good]) / frames[0].depth[good]) < 0.02


def test_cloud_in_an_unknown_frame_gives_no_metres_and_is_counted(start_node, frames):
    from depthmaster_ros.ros import messages
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='lidar', diagnostics_period_s=0.2, hold_s=0.0)
    rig.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(frames[0].lidar_points),
                                              messages.header_msg(BAD_STAMP, 'lidar_nobody_knows')))
    assert rig.spin_until(lambda: len(node.clouds.snapshot()) == 1, 10)
    rig.publish_frame(frames[0], BAD_STAMP, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    alignment = rig.received['depth/alignment'][0]
    assert not alignment.ok and 'lidar_nobody_knows' in alignment.reason
    assert rig.count('depth/image') == 0 and rig.count('depth/points') == 0
    assert rig.spin_until(lambda: node.faults.count('alignment') == 1, 10)
    assert fault_reported(rig, 'alignment', 1, 'lidar_nobody_knows')
    assert rig.spin_until(lambda: any(s.name.endswith(': alignment') and s.level == WARN
                                      and 'lidar_nobody_knows' in s.message
                                      for d in rig.received['/diagnostics'] for s in d.status), 10)
    rig.publish_frame(frames[1], GOOD_STAMP, cloud=False)                      # the node keeps going
    assert rig.spin_until(lambda: rig.count('depth/relative') == 2, 30)


def test_cloud_older_than_max_cloud_age_is_not_used(start_node, frames):
    from depthmaster_ros.ros import messages
    node, rig = _lidar_node(start_node, frames, max_cloud_age_s=0.1, hold_s=0.0)
    rig.points_pub.publish(messages.cloud_msg(xyz_cloud_fields(frames[0].lidar_points),
                                              messages.header_msg(BAD_STAMP - 500_000_000, LIDAR_FRAME)))
    assert rig.spin_until(lambda: len(node.clouds.snapshot()) == 1, 10)
    rig.publish_frame(frames[0], BAD_STAMP, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/alignment') == 1, 30)
    assert not rig.received['depth/alignment'][0].ok
    assert rig.count('depth/image') == 0
    assert fault_reported(rig, 'points_missing', 1, '0.500 s older than the image')
    rig.publish_frame(frames[1], GOOD_STAMP)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 30)


# parameters --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name, value, fragment', [
    ('cloud_stride', 0, 'cloud_stride out of range'),
    ('max_depth', -5.0, 'max_depth out of range'),
    ('temporal_smoothing', 1.5, 'temporal_smoothing out of range'),
    ('max_cloud_age_s', float('nan'), 'max_cloud_age_s'),
    ('processing_res', 'big', "processing_res: expected type integer, got string 'big'"),
    ('lidar_to_camera', [1.0, 2.0], '7'),
    ('max_depth', 0.05, 'min_depth'),
    ('input_qos_depth', 50, 'read-only'),
])
def test_out_of_range_runtime_parameters_are_rejected_and_frames_keep_the_old_value(
        start_node, tiny_estimator, frames, name, value, fragment):
    from rclpy.parameter import Parameter
    node, rig = start_node(tiny_estimator, alignment_mode='fixed', cloud_stride=2)
    before = node.get_parameter(name).value
    result = node.set_parameters([Parameter(name, value=value)])[0]
    assert not result.successful and fragment in result.reason
    assert node.get_parameter(name).value == before and node.current_params()[name] == before
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/points') == 1, 30)
    depth = decode_image(rig.received['depth/image'][0])
    assert rig.received['depth/points'][0].width == int(np.isfinite(depth[::2, ::2]).sum())   # stride 2 kept


def test_lowest_allowed_min_depth_still_gives_metres(start_node, frames):
    """min_depth 0 is inside the parameter's range, so every stage must accept it (not drop each frame)."""
    node, rig = _lidar_node(start_node, frames, min_depth=0.0)
    rig.publish_frame(frames[0], 1_000)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 30), node.faults.last_messages()
    depth = decode_image(rig.received['depth/image'][0])
    assert np.nanmin(depth) > 0 and node.faults.count('frame') == 0
