"""Choosing a bag's input topics: flags win, unambiguous topics are found, ambiguity lists everything."""
import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from depthmaster_ros.bag import TopicEntry, TopicSelectionError, image_namespace, select_topics
from depthmaster_ros.bag import topics as bag_topics

TYPES = get_typestore(Stores.ROS2_KILTED).types


def _image(encoding):
    header = TYPES['std_msgs/msg/Header'](stamp=TYPES['builtin_interfaces/msg/Time'](1, 0), frame_id='cam')
    return TYPES['sensor_msgs/msg/Image'](header=header, height=1, width=1, encoding=encoding, is_bigendian=0,
                                          step=3, data=np.zeros(3, np.uint8))


def _compressed(fmt):
    header = TYPES['std_msgs/msg/Header'](stamp=TYPES['builtin_interfaces/msg/Time'](1, 0), frame_id='cam')
    return TYPES['sensor_msgs/msg/CompressedImage'](header=header, format=fmt, data=np.zeros(4, np.uint8))


def _select(entries, firsts, **flags):
    return select_topics(entries, firsts.__getitem__, **flags)


SAMPLE = [
    TopicEntry('/camera/image_raw', bag_topics.IMAGE, 10),
    TopicEntry('/camera/camera_info', bag_topics.CAMERA_INFO, 10),
    TopicEntry('/camera/depth_gt', bag_topics.IMAGE, 10),
    TopicEntry('/lidar/points', bag_topics.POINT_CLOUD, 10),
    TopicEntry('/tf_static', bag_topics.TF_MESSAGE, 1),
    TopicEntry('/tf', bag_topics.TF_MESSAGE, 10),
]
SAMPLE_FIRSTS = {'/camera/image_raw': _image('rgb8'), '/camera/depth_gt': _image('32FC1')}


def test_sample_layout_is_found_without_flags():
    topics = _select(SAMPLE, SAMPLE_FIRSTS)
    assert topics.image == '/camera/image_raw' and topics.image_type == bag_topics.IMAGE
    assert topics.camera_info == '/camera/camera_info'
    assert topics.points == '/lidar/points'
    assert topics.gt == '/camera/depth_gt'
    assert topics.tf == ['/tf_static', '/tf']


def test_depth_images_are_not_mistaken_for_the_camera():
    entries = [TopicEntry('/a/depth', bag_topics.IMAGE, 5), TopicEntry('/b/color', bag_topics.IMAGE, 5),
               TopicEntry('/c/image/compressedDepth', bag_topics.COMPRESSED_IMAGE, 5)]
    firsts = {'/a/depth': _image('16UC1'), '/b/color': _image('bgr8'),
              '/c/image/compressedDepth': _compressed('16UC1; compressedDepth png')}
    assert _select(entries, firsts).image == '/b/color'


def test_two_camera_topics_fail_with_the_listing():
    entries = SAMPLE + [TopicEntry('/camera2/image_raw', bag_topics.IMAGE, 7)]
    firsts = {**SAMPLE_FIRSTS, '/camera2/image_raw': _image('rgb8')}
    with pytest.raises(TopicSelectionError) as error:
        _select(entries, firsts)
    message = str(error.value)
    assert '--image-topic' in message
    for entry in entries:         # every topic with its type and count
        line = next(line for line in message.splitlines() if line.split()[:1] == [entry.name])
        assert line.split()[1:] == [entry.msgtype, str(entry.count)]
    chosen = _select(entries, firsts, image_topic='/camera2/image_raw')
    assert chosen.image == '/camera2/image_raw'
    assert chosen.camera_info == '/camera/camera_info'       # the only CameraInfo


def test_camera_info_beside_the_image_wins_and_several_elsewhere_are_ambiguous():
    entries = [TopicEntry('/front/image_raw/compressed', bag_topics.COMPRESSED_IMAGE, 3),
               TopicEntry('/front/camera_info', bag_topics.CAMERA_INFO, 3),
               TopicEntry('/rear/camera_info', bag_topics.CAMERA_INFO, 3)]
    firsts = {'/front/image_raw/compressed': _compressed('jpeg')}
    assert _select(entries, firsts).camera_info == '/front/camera_info'
    entries[1] = TopicEntry('/left/camera_info', bag_topics.CAMERA_INFO, 3)
    with pytest.raises(TopicSelectionError, match='--camera-info-topic'):
        _select(entries, firsts)


def test_several_clouds_need_a_choice_unless_points_are_off():
    entries = SAMPLE + [TopicEntry('/radar/points', bag_topics.POINT_CLOUD, 4)]
    with pytest.raises(TopicSelectionError, match='--points-topic'):
        _select(entries, SAMPLE_FIRSTS)
    assert _select(entries, SAMPLE_FIRSTS, use_points=False).points is None
    assert _select(entries, SAMPLE_FIRSTS, points_topic='/radar/points').points == '/radar/points'


def test_flags_naming_missing_or_mistyped_topics_fail():
    with pytest.raises(TopicSelectionError, match='--image-topic /nope: no such topic'):
        _select(SAMPLE, SAMPLE_FIRSTS, image_topic='/nope')
    with pytest.raises(TopicSelectionError, match='--points-topic /camera/image_raw: type'):
        _select(SAMPLE, SAMPLE_FIRSTS, points_topic='/camera/image_raw')


def test_no_camera_topic_at_all():
    with pytest.raises(TopicSelectionError, match='no camera image topic'):
        _select([TopicEntry('/lidar/points', bag_topics.POINT_CLOUD, 3)], {})


def test_image_namespace():
    assert image_namespace('/camera/image_raw', bag_topics.IMAGE) == '/camera'
    assert image_namespace('/robot/front/image_raw/compressed', bag_topics.COMPRESSED_IMAGE) == '/robot/front'
    assert image_namespace('/image', bag_topics.IMAGE) == '/'
