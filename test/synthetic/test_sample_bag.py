"""The synthetic sample bag: topics, types, frames, stamps, QoS, and content equal to the scene generator."""
import subprocess
import sys

import numpy as np
import pytest
from rosbags.interfaces import QosDurability
from rosbags.rosbag2 import Reader

from depthmaster_ros.bag import typestore
from depthmaster_ros.conversions import image_to_numpy, read_points
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.synthetic import SyntheticScene, sample_bag

FRAMES, RATE, WIDTH, HEIGHT = 4, 5.0, 80, 60


@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    path = tmp_path_factory.mktemp('sample') / 'sample.mcap'
    counts = sample_bag.write_sample_bag(path, frames=FRAMES, rate_hz=RATE, width=WIDTH, height=HEIGHT, seed=3)
    return path, counts


def _messages(path, topic):
    store = typestore()
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [(log_ns, store.deserialize_cdr(raw, c.msgtype)) for c, log_ns, raw in reader.messages(connections)]


def _stamp_ns(message):
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


def test_topics_types_and_counts(sample):
    path, counts = sample
    assert path.is_file()                    # a single .mcap file
    with Reader(path) as reader:
        topics = {name: (info.msgtype, info.msgcount) for name, info in reader.topics.items()}
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert topics == {
        sample_bag.IMAGE_TOPIC: ('sensor_msgs/msg/Image', FRAMES),
        sample_bag.CAMERA_INFO_TOPIC: ('sensor_msgs/msg/CameraInfo', FRAMES),
        sample_bag.GT_TOPIC: ('sensor_msgs/msg/Image', FRAMES),
        sample_bag.POINTS_TOPIC: ('sensor_msgs/msg/PointCloud2', FRAMES),
        '/tf': ('tf2_msgs/msg/TFMessage', FRAMES),
        '/tf_static': ('tf2_msgs/msg/TFMessage', 1),
    }
    assert counts == {topic: count for topic, (_, count) in topics.items()}
    assert [q.durability for q in qos['/tf_static']] == [QosDurability.TRANSIENT_LOCAL]


def test_camera_stream_matches_the_scene(sample):
    path, _ = sample
    scene = SyntheticScene(width=WIDTH, height=HEIGHT, seed=3, start_stamp_ns=sample_bag.START_STAMP_NS)
    images = _messages(path, sample_bag.IMAGE_TOPIC)
    gts = _messages(path, sample_bag.GT_TOPIC)
    infos = _messages(path, sample_bag.CAMERA_INFO_TOPIC)
    stamps = [_stamp_ns(m) for _, m in images]
    assert np.allclose(np.diff(stamps), 1e9 / RATE)
    for (log_ns, image), (_, gt), (_, info) in zip(images, gts, infos):
        frame = scene.render((_stamp_ns(image) - sample_bag.START_STAMP_NS) * 1e-9)
        assert log_ns > _stamp_ns(image)                 # logged after it was taken
        assert image.encoding == 'rgb8' and gt.encoding == '32FC1'
        assert image.header.frame_id == gt.header.frame_id == info.header.frame_id == sample_bag.CAMERA_FRAME
        assert _stamp_ns(gt) == _stamp_ns(info) == _stamp_ns(image)
        np.testing.assert_array_equal(image_to_numpy(image), frame.rgb)
        np.testing.assert_array_equal(image_to_numpy(gt), frame.depth)
        camera = CameraModel.from_camera_info(info)
        assert (camera.width, camera.height) == (WIDTH, HEIGHT)
        np.testing.assert_allclose([camera.fx, camera.fy, camera.cx, camera.cy],
                                   [scene.camera.fx, scene.camera.fy, scene.camera.cx, scene.camera.cy])


def test_lidar_cloud_and_transforms_match_the_scene(sample):
    path, _ = sample
    scene = SyntheticScene(width=WIDTH, height=HEIGHT, seed=3, start_stamp_ns=sample_bag.START_STAMP_NS)
    clouds = _messages(path, sample_bag.POINTS_TOPIC)
    (_, static), = _messages(path, '/tf_static')
    dynamic = _messages(path, '/tf')
    edges = {(t.header.frame_id, t.child_frame_id): t.transform for t in static.transforms}
    assert set(edges) == {(sample_bag.FOOTPRINT_FRAME, sample_bag.BASE_FRAME),
                          (sample_bag.BASE_FRAME, sample_bag.CAMERA_FRAME), (sample_bag.BASE_FRAME, sample_bag.LIDAR_FRAME)}
    lidar = edges[(sample_bag.BASE_FRAME, sample_bag.LIDAR_FRAME)]
    np.testing.assert_allclose([lidar.translation.x, lidar.translation.y, lidar.translation.z],
                               scene.lidar_to_base.translation, atol=1e-9)
    for (_, cloud), (_, tf) in zip(clouds, dynamic):
        frame = scene.render((_stamp_ns(cloud) - sample_bag.START_STAMP_NS) * 1e-9)
        assert cloud.header.frame_id == sample_bag.LIDAR_FRAME
        points = read_points(cloud)
        assert points.dtype.names == ('x', 'y', 'z', 'intensity')
        xyz = np.stack([points['x'], points['y'], points['z']], axis=1)
        np.testing.assert_array_equal(xyz, frame.lidar_points)
        assert np.all(points['intensity'] > 0)
        (odom,) = tf.transforms
        assert (odom.header.frame_id, odom.child_frame_id) == (sample_bag.ODOM_FRAME, sample_bag.FOOTPRINT_FRAME)
        assert _stamp_ns(odom) == _stamp_ns(cloud)
        np.testing.assert_allclose([odom.transform.translation.x, odom.transform.translation.y],
                                   frame.world_from_base.translation[:2], atol=1e-9)


def test_same_arguments_give_the_same_bag_and_no_silent_overwrite(tmp_path, sample):
    path, _ = sample
    again = tmp_path / 'again.mcap'
    sample_bag.write_sample_bag(again, frames=FRAMES, rate_hz=RATE, width=WIDTH, height=HEIGHT, seed=3)
    for topic in (sample_bag.IMAGE_TOPIC, sample_bag.POINTS_TOPIC):
        first, second = _messages(path, topic), _messages(again, topic)
        assert [log for log, _ in first] == [log for log, _ in second]
        assert all(np.array_equal(a.data, b.data) for (_, a), (_, b) in zip(first, second))
    with pytest.raises(ValueError, match='exists'):
        sample_bag.write_sample_bag(again, frames=1, width=WIDTH, height=HEIGHT)
    sample_bag.write_sample_bag(again, frames=1, width=WIDTH, height=HEIGHT, force=True)
    assert len(_messages(again, sample_bag.IMAGE_TOPIC)) == 1


def test_sqlite3_directory_bag(tmp_path):
    path = tmp_path / 'sample_db'
    sample_bag.write_sample_bag(path, frames=2, width=WIDTH, height=HEIGHT, storage='sqlite3')
    assert (path / 'metadata.yaml').is_file() and list(path.glob('*.db3'))
    assert len(_messages(path, sample_bag.IMAGE_TOPIC)) == 2


@pytest.mark.parametrize('flag, value, field', [('--frames', '0', 'frames'), ('--width', '4', 'width'),
                                                 ('--rate', '0', 'rate')])
def test_cli_rejects_bad_arguments_naming_them(tmp_path, flag, value, field):
    result = subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', 'make-sample', str(tmp_path / 'x.mcap'),
                             flag, value], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert field in result.stderr and 'Traceback' not in result.stderr
    assert not (tmp_path / 'x.mcap').exists()


def test_cli_writes_a_sample(tmp_path):
    out = tmp_path / 'cli.mcap'
    result = subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', 'make-sample', str(out), '--frames', '2',
                             '--width', '48', '--height', '32'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    images = _messages(out, sample_bag.IMAGE_TOPIC)
    assert [(m.width, m.height) for _, m in images] == [(48, 32), (48, 32)]
