"""Our messages over real rclpy and DDS, and rosbags vs rclpy serialisation of the same builders."""
import numpy as np
import pytest

from depthmaster_ros.bag import messages as rb
from depthmaster_ros.conversions import (
    FLOAT32,
    UINT16,
    FieldSpec,
    compressed_to_rgb8,
    create_cloud_fields,
    encode_compressed,
    image_to_numpy,
    read_points,
    xyz_cloud_fields,
)

from fixtures_ros import spin_until

pytestmark = pytest.mark.ros

STAMP_NS = 1_700_000_123_456_789_012
LIDAR_FIELDS = (FieldSpec('x', 0, FLOAT32), FieldSpec('y', 4, FLOAT32), FieldSpec('z', 8, FLOAT32),
                FieldSpec('intensity', 16, FLOAT32), FieldSpec('ring', 20, UINT16))


def _lidar_points(rng, count):
    dtype = np.dtype({'names': ['x', 'y', 'z', 'intensity', 'ring'],
                      'formats': ['<f4', '<f4', '<f4', '<f4', '<u2'], 'offsets': [0, 4, 8, 16, 20], 'itemsize': 24})
    points = np.zeros(count, dtype=dtype)
    for name in ('x', 'y', 'z', 'intensity'):
        points[name] = rng.normal(size=count)
    points['ring'] = rng.integers(0, 64, count)
    points['x'][::7] = np.nan
    return points


def _reliable_qos():
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def test_image_and_cloud_survive_a_publisher_subscriber_pair(ros_context, ros_executor):
    from rclpy.node import Node
    from sensor_msgs.msg import Image, PointCloud2

    from depthmaster_ros.ros import messages

    rng = np.random.default_rng(0)
    images = {'rgb8': rng.integers(0, 256, (31, 47, 3), dtype=np.uint8),
              '32FC1': rng.normal(size=(31, 47)).astype(np.float32),
              '16UC1': rng.integers(0, 65536, (31, 47), dtype=np.uint16)}
    images['32FC1'][3, 5] = np.nan
    points = _lidar_points(rng, 3 * 41)
    received = {'images': [], 'clouds': []}

    talker = Node('conversion_talker', context=ros_context)
    listener = Node('conversion_listener', context=ros_context)
    for node in (talker, listener):
        ros_executor.add_node(node)
    image_pub = talker.create_publisher(Image, 'roundtrip/image', _reliable_qos())
    cloud_pub = talker.create_publisher(PointCloud2, 'roundtrip/points', _reliable_qos())
    listener.create_subscription(Image, 'roundtrip/image', received['images'].append, _reliable_qos())
    listener.create_subscription(PointCloud2, 'roundtrip/points', received['clouds'].append, _reliable_qos())
    assert spin_until(ros_executor, lambda: image_pub.get_subscription_count() and cloud_pub.get_subscription_count())

    header = messages.header_msg(STAMP_NS, 'camera_optical')
    for encoding, pixels in images.items():
        image_pub.publish(messages.image_msg(pixels, encoding, header))
    cloud_pub.publish(messages.cloud_msg(create_cloud_fields(points.reshape(3, 41)),
                                         messages.header_msg(STAMP_NS, 'lidar')))
    assert spin_until(ros_executor, lambda: len(received['images']) == 3 and len(received['clouds']) == 1)

    for msg, (encoding, pixels) in zip(received['images'], images.items()):
        assert msg.encoding == encoding
        assert messages.stamp_to_ns(msg.header.stamp) == STAMP_NS and msg.header.frame_id == 'camera_optical'
        np.testing.assert_array_equal(image_to_numpy(msg), pixels)
    cloud = received['clouds'][0]
    assert (cloud.height, cloud.width, cloud.point_step, cloud.is_dense) == (3, 41, 24, False)
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == \
        [(f.name, f.offset, f.datatype, f.count) for f in LIDAR_FIELDS]
    back = read_points(cloud)
    for name in points.dtype.names:
        np.testing.assert_array_equal(back[name], points[name])


def _same_cdr(rosbags_msg, rclpy_msg):
    """Same wire content both ways. Fast CDR leaves alignment padding bytes uninitialised, so the
    rclpy bytes are compared after a rosbags re-serialisation, which zeroes the padding."""
    from rclpy.serialization import deserialize_message, serialize_message
    store = rb.typestore()
    bag_bytes = bytes(store.serialize_cdr(rosbags_msg, rosbags_msg.__msgtype__))
    ros_bytes = serialize_message(rclpy_msg)
    reserialised = bytes(store.serialize_cdr(store.deserialize_cdr(ros_bytes, rosbags_msg.__msgtype__),
                                             rosbags_msg.__msgtype__))
    return (len(bag_bytes) == len(ros_bytes) and reserialised == bag_bytes
            and deserialize_message(bag_bytes, type(rclpy_msg)) == rclpy_msg)


def test_rosbags_and_rclpy_builders_write_the_same_cdr():
    from depthmaster_ros.ros import messages

    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (5, 9, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 9.0, (5, 9)).astype(np.float32)
    cloud = xyz_cloud_fields(rng.normal(size=(5, 9, 3)).astype(np.float32), rgb)
    lidar = create_cloud_fields(_lidar_points(rng, 17))
    fmt, data = encode_compressed(rgb, 'png')
    info = {'width': 9, 'height': 5, 'distortion_model': 'plumb_bob', 'd': [0.1, -0.02, 0.0, 0.0, 0.001],
            'k': [50.0, 0, 4.5, 0, 50.0, 2.5, 0, 0, 1], 'p': [50.0, 0, 4.5, 0, 0, 50.0, 2.5, 0, 0, 0, 1, 0],
            'roi': {'x_offset': 1, 'y_offset': 2, 'height': 3, 'width': 4, 'do_rectify': True}}
    bag_header, ros_header = rb.header(STAMP_NS, 'cam'), messages.header_msg(STAMP_NS, 'cam')
    assert _same_cdr(bag_header, ros_header)
    assert _same_cdr(rb.image_msg(rgb, 'rgb8', bag_header), messages.image_msg(rgb, 'rgb8', ros_header))
    assert _same_cdr(rb.image_msg(depth, '32FC1', bag_header), messages.image_msg(depth, '32FC1', ros_header))
    assert _same_cdr(rb.cloud_msg(cloud, bag_header), messages.cloud_msg(cloud, ros_header))
    assert _same_cdr(rb.cloud_msg(lidar, bag_header), messages.cloud_msg(lidar, ros_header))
    assert _same_cdr(rb.camera_info_msg(info, bag_header), messages.camera_info_msg(info, ros_header))
    assert _same_cdr(rb.compressed_image_msg(fmt, data, bag_header),
                     messages.compressed_image_msg(fmt, data, ros_header))


def test_bag_bytes_deserialise_in_rclpy_and_read_back():
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

    from depthmaster_ros.conversions import stamp_to_ns

    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    header = rb.header(STAMP_NS, 'cam')
    store = rb.typestore()

    def through_cdr(msg, rclpy_type):
        return deserialize_message(bytes(store.serialize_cdr(msg, msg.__msgtype__)), rclpy_type)

    image = through_cdr(rb.image_msg(rgb, 'rgb8', header), Image)
    assert stamp_to_ns(image.header.stamp) == STAMP_NS
    np.testing.assert_array_equal(image_to_numpy(image), rgb)
    xyz = rng.normal(size=(8, 3)).astype(np.float32)
    cloud = through_cdr(rb.cloud_msg(xyz_cloud_fields(xyz), header), PointCloud2)
    np.testing.assert_array_equal(np.stack([read_points(cloud)[n] for n in 'xyz'], axis=-1), xyz)
    compressed = through_cdr(rb.compressed_image_msg(*encode_compressed(rgb, 'png'), header), CompressedImage)
    np.testing.assert_array_equal(compressed_to_rgb8(compressed), rgb)
    info = through_cdr(rb.camera_info_msg({'width': 7, 'height': 6, 'k': np.arange(9.0)}, header), CameraInfo)
    np.testing.assert_array_equal(info.k, np.arange(9.0))
    np.testing.assert_array_equal(info.r, np.eye(3).ravel())


def test_rclpy_bytes_deserialise_in_rosbags_and_read_back():
    from rclpy.serialization import serialize_message

    from depthmaster_ros.ros import messages

    rng = np.random.default_rng(3)
    depth_mm = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    raw = serialize_message(messages.image_msg(depth_mm, '16UC1', messages.header_msg(STAMP_NS, 'cam')))
    image = rb.typestore().deserialize_cdr(raw, 'sensor_msgs/msg/Image')
    assert isinstance(image.data, np.ndarray)
    np.testing.assert_array_equal(image_to_numpy(image), depth_mm)
    assert rb.stamp_to_ns(image.header.stamp) == STAMP_NS


def test_builders_reject_bad_values_with_the_field_name():
    from depthmaster_ros.ros import messages

    with pytest.raises(ValueError, match=r'CameraInfo.k must have 9 elements, got 8'):
        messages.camera_info_msg({'width': 2, 'height': 2, 'k': np.zeros(8)}, messages.header_msg(0, ''))
    with pytest.raises(ValueError, match=r'CameraInfo has no field\(s\) fx'):
        rb.camera_info_msg({'fx': 1.0}, rb.header(0, ''))
    with pytest.raises(ValueError, match=r'does not fit builtin_interfaces/Time'):
        messages.header_msg(2**31 * 10**9, 'cam')
    with pytest.raises(ValueError, match=r'Header.frame_id must be a string'):
        rb.header(0, None)
    with pytest.raises(ValueError, match=r'array.dtype float64 does not fit encoding 32FC1'):
        messages.image_msg(np.zeros((2, 2)), '32FC1', messages.header_msg(0, ''))
    stamp = messages.ns_to_stamp(-1)
    assert (stamp.sec, stamp.nanosec) == (-1, 999_999_999) and messages.stamp_to_ns(stamp) == -1
