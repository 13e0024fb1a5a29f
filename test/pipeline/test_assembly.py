"""Input rules shared by the node and the bag replay: image decoding, clouds, intrinsics per image size."""
import numpy as np
import pytest

from depthmaster_ros.conversions.compressed import encode_compressed
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.pipeline.assembly import InputFault, camera_for_image, cloud_from_message, image_to_model_rgb
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
    with pytest.raises(InputFault) as raised:
        cloud_from_message(xyz_cloud('rclpy', points, frame_id))
    assert raised.value.kind == kind


def test_a_cloud_without_xyz_is_a_points_fault():
    msg = cloud_message('rclpy', height=1, width=1, fields=[('intensity', 0, FLOAT32, 1)], point_step=4,
                        row_step=4, data=b'\0\0\0\0')
    msg.header.frame_id = 'lidar'
    with pytest.raises(InputFault, match="no 'x' field") as raised:
        cloud_from_message(msg)
    assert raised.value.kind == 'points'


def test_intrinsics_of_another_size_are_never_applied():
    camera = CameraModel.pinhole(640, 480, 500.0)
    assert camera_for_image(camera, 640, 480) is camera
    for width, height in ((320, 240), (100, 100), (1, 1)):       # neither scaled nor another aspect
        with pytest.raises(InputFault, match=f'camera_info is 640x480 but its image is {width}x{height}') as raised:
            camera_for_image(camera, width, height)
        assert raised.value.kind == 'camera_info_size'
