"""Input rules shared by the node and the bag replay: image decoding, clouds, intrinsics per image size, and
the one frame assembly both adapters hand their messages to."""
import numpy as np
import pytest

from depthmaster_ros import InputError
from depthmaster_ros.config import Config
from depthmaster_ros.conversions import encode_compressed
from depthmaster_ros.geometry import CameraModel, StampedCloud, TransformBuffer
from depthmaster_ros.pipeline import (
    CameraInfoSync,
    FrameAssembly,
    RecentClouds,
    camera_for_image,
    cloud_from_message,
    image_to_model_rgb,
)

from fixtures_conversions import FLAVOURS, cloud_message, compressed_message, image_message

FLOAT32 = 7
XYZ = [('x', 0, FLOAT32, 1), ('y', 4, FLOAT32, 1), ('z', 8, FLOAT32, 1)]


def xyz_cloud(flavour, points, frame_id='lidar'):
    points = np.asarray(points, '<f4').reshape(-1, 3)
    msg = cloud_message(flavour, height=1, width=len(points), fields=XYZ, point_step=12,
                        row_step=12 * len(points), data=points.tobytes(), is_dense=False)
    msg.header.frame_id = frame_id
    msg.header.stamp.sec, msg.header.stamp.nanosec = 3, 500
    return msg


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_raw_and_compressed_images_give_the_same_rgb(flavour):
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    raw = image_message(flavour, height=6, width=8, encoding='rgb8', step=24, data=rgb.tobytes())
    png = compressed_message(flavour, *encode_compressed(rgb, 'png'))
    assert np.array_equal(image_to_model_rgb(raw, 1000), rgb)
    assert np.array_equal(image_to_model_rgb(png, 1000), rgb)


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_oversize_images_are_refused_before_decoding(flavour):
    raw = image_message(flavour, height=6, width=8, encoding='rgb8', step=24, data=b'')   # no pixels at all
    with pytest.raises(ValueError, match='max_pixels'):
        image_to_model_rgb(raw, 47)
    png = compressed_message(flavour, *encode_compressed(np.zeros((6, 8, 3), np.uint8), 'png'))
    with pytest.raises(ValueError, match='max_pixels'):
        image_to_model_rgb(png, 47)


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_cloud_keeps_finite_points_frame_and_stamp(flavour):
    cloud = cloud_from_message(xyz_cloud(flavour, [[1, 2, 3], [np.nan, 0, 0], [4, 5, 6]]))
    assert cloud.points.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert (cloud.frame_id, cloud.stamp_ns) == ('lidar', 3_000_000_500)


@pytest.mark.parametrize('points, frame_id, kind', [
    ([[np.nan, 0, 0]], 'lidar', 'points_empty'),
    ([[1, 2, 3]], '', 'points_frame_id'),
])
def test_unusable_clouds_are_faults_of_their_kind(points, frame_id, kind):
    with pytest.raises(InputError) as raised:
        cloud_from_message(xyz_cloud('rclpy', points, frame_id))
    assert raised.value.kind == kind


def test_a_cloud_without_xyz_is_a_points_fault():
    msg = cloud_message('rclpy', height=1, width=1, fields=[('intensity', 0, FLOAT32, 1)], point_step=4,
                        row_step=4, data=b'\0\0\0\0')
    msg.header.frame_id = 'lidar'
    with pytest.raises(InputError, match="no 'x' field") as raised:
        cloud_from_message(msg)
    assert raised.value.kind == 'points'


def test_intrinsics_of_another_size_are_never_applied():
    camera = CameraModel.pinhole(640, 480, 500.0)
    assert camera_for_image(camera, 640, 480) is camera
    for width, height in ((320, 240), (100, 100), (1, 1)):       # neither scaled nor another aspect
        with pytest.raises(InputError, match=f'camera_info is 640x480 but its image is {width}x{height}') as raised:
            camera_for_image(camera, width, height)
        assert raised.value.kind == 'camera_info_size'


def builders(flavour):
    """The message builders of one flavour: the node's rclpy ones or the bag tool's rosbags ones."""
    if flavour == 'rclpy':
        from depthmaster_ros.ros import messages
        return messages.header_msg, messages
    from depthmaster_ros.bag import messages
    return messages.header, messages


def assembly(live, clouds=None):
    reports, skips = [], []
    sync = CameraInfoSync(0.0, 1.0)
    made = FrameAssembly(sync, clouds, TransformBuffer(), report=lambda kind, text: reports.append((kind, text)),
                         skip=lambda kind, text: skips.append((kind, text)), live=live)
    return made, reports, skips


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize('live', [True, False], ids=['node', 'bag'])
def test_node_and_bag_make_the_same_frame_and_name_the_same_skip(flavour, live):
    header, build = builders(flavour)
    config = Config.from_params({'alignment_mode': 'lidar'})
    clouds = RecentClouds()
    clouds.add(StampedCloud(np.ones((3, 3), np.float32), 'lidar', 1_000))
    made, reports, skips = assembly(live, clouds)
    camera = CameraModel.pinhole(8, 6, 5.0)
    made.add_camera_info(build.camera_info_msg(camera.to_camera_info_fields(), header(1_000, 'cam')))
    rgb = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    [paired] = made.add_image(build.image_msg(rgb, 'rgb8', header(1_000, 'cam')), config, tag='t')
    frame = made.frame(paired, config)
    assert np.array_equal(frame.rgb, rgb) and (frame.stamp_ns, frame.frame_id) == (1_000, 'cam')
    assert frame.camera.to_camera_info_fields() == camera.to_camera_info_fields() and frame.cloud.stamp_ns == 1_000
    assert frame.transforms is made.transforms and paired.item.tag == 't' and reports == skips == []

    short = build.image_msg(rgb, 'rgb8', header(2_000, 'cam'))
    short.data = short.data[:10]
    assert made.add_image(short, config) == []
    [(kind, text)] = skips
    assert kind == 'image' and 'Image.data' in text and text.endswith('frame dropped') and reports == []


@pytest.mark.parametrize('live', [True, False], ids=['node', 'bag'])
def test_a_refused_camera_info_and_a_missing_cloud_are_counted_by_the_node_rule(live):
    header, build = builders('rclpy')
    config = Config.from_params({'alignment_mode': 'lidar'})
    made, reports, _ = assembly(live, RecentClouds())
    fields = CameraModel.pinhole(8, 6, 5.0).to_camera_info_fields()
    fields['k'] = [0.0] * 9
    made.add_camera_info(build.camera_info_msg(fields, header(1_000, 'cam')))
    rgb = np.zeros((6, 8, 3), np.uint8)
    [paired] = made.add_image(build.image_msg(rgb, 'rgb8', header(1_000, 'cam')), config)
    frame = made.frame(paired, config)
    assert frame.camera is None and frame.cloud is None
    kinds = [kind for kind, _ in reports]
    # the node counts the refusal when it comes, then its image and the missing cloud; the bag tool, reading
    # ahead, counts the refusal with the image and writes the missing cloud in the frame's record only
    assert kinds == (['camera_info', 'camera_info_unmatched', 'points_missing'] if live else ['camera_info'])
    assert frame.cloud_miss_reason == 'no point cloud received'


def test_an_image_overtaken_while_it_waited_is_dropped_not_released_late():
    """camera_info stops: the waiting image must not go out after the newer one that went out at once."""
    header, build = builders('rclpy')
    config = Config.from_params({'alignment_mode': 'fixed', 'camera_info_timeout_s': 1.0})
    clock = [100.0]
    reports = []
    made = FrameAssembly(CameraInfoSync(0.0, 1.0, clock=lambda: clock[0]), None, TransformBuffer(),
                         report=lambda kind, text: reports.append(kind), skip=None, live=True)
    rgb = np.zeros((6, 8, 3), np.uint8)
    made.add_camera_info(build.camera_info_msg(CameraModel.pinhole(8, 6, 5.0).to_camera_info_fields(),
                                               header(1_000, 'cam')))
    clock[0] = 100.5
    assert made.add_image(build.image_msg(rgb, 'rgb8', header(2_000, 'cam')), config) == []   # waits
    clock[0] = 101.2                                # no camera_info for longer than the timeout: the next goes at once
    [newer] = made.add_image(build.image_msg(rgb, 'rgb8', header(3_000, 'cam')), config)
    assert made.frame(newer, config).stamp_ns == 3_000
    clock[0] = 101.6
    [late] = made.expire()
    assert late.item.stamp_ns == 2_000 and made.frame(late, config) is None
    assert reports == ['camera_info_missing', 'image_overtaken']
