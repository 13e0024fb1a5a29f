"""Over real DDS: for a distorted camera, depth/image + depth/camera_info alone reproduce depth/points with
depth_image_proc's point_cloud_xyz math (re-implemented below), and raw geometry stays available."""
import numpy as np
import pytest

from fixtures_estimators import SceneTruthEstimator
from fixtures_node import decode_image
from fixtures_pipeline import CAMERA_FRAME

pytestmark = pytest.mark.ros


def point_cloud_xyz(depth, info):
    """depth_image_proc's point_cloud_xyz for a 32FC1 image: pinhole rays of P (D ignored), NaN stays NaN."""
    P = np.reshape(info.p, (3, 4))
    fx, fy, cx, cy = P[0, 0], P[1, 1], P[0, 2], P[1, 2]
    v, u = np.mgrid[0:depth.shape[0], 0:depth.shape[1]].astype(np.float64)
    z = depth.astype(np.float64)
    return np.stack([(u - cx) * z / fx, (v - cy) * z / fy, z], axis=-1)


def distorted_frame(frames):
    from depthmaster_ros.geometry import CameraModel
    frame = frames[0]
    camera = CameraModel.pinhole(frame.camera.width, frame.camera.height, frame.camera.fx,
                                 D=[-0.2, 0.0, 0.0, 0.0, 0.0], distortion_model='plumb_bob')
    return frame, camera


def publish(rig, frame, camera, stamp):
    from depthmaster_ros.ros import messages
    header = messages.header_msg(stamp, CAMERA_FRAME)
    rig.info_pub.publish(messages.camera_info_msg(camera.to_camera_info_fields(), header))
    rig.spin_until(lambda: rig.target.channels[0].camera_sync.match(stamp) is not None, 5)
    rig.image_pub.publish(messages.image_msg(frame.rgb, 'rgb8', header))
    assert rig.spin_until(lambda: rig.count('depth/points') == 1 and rig.count('depth/camera_info') == 1, 30)


def test_rectified_depth_and_camera_info_reproduce_the_published_cloud(start_node, frames):
    from depthmaster_ros.conversions import read_xyz
    frame, camera = distorted_frame(frames)
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='fixed', cloud_stride=1, cloud_organized=True,
                           cloud_rgb=False)
    assert node.config.output.output_geometry == 'rectified'          # the default
    publish(rig, frame, camera, 1_000_000_000)
    info = rig.received['depth/camera_info'][0]
    assert not np.any(info.d)                                          # pinhole: D is zero
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), np.reshape(info.p, (3, 4))[:, :3])
    depth = decode_image(rig.received['depth/image'][0])
    cloud = rig.received['depth/points'][0]
    assert (cloud.height, cloud.width) == depth.shape
    points = read_xyz(cloud, skip_nans=False).reshape(cloud.height, cloud.width, 3).astype(np.float64)
    expected = point_cloud_xyz(depth, info)
    valid = np.isfinite(expected[..., 2])
    assert valid.mean() > 0.8
    np.testing.assert_array_equal(np.isfinite(points[..., 2]), valid)
    np.testing.assert_allclose(points[valid], expected[valid], rtol=1e-4, atol=0)


def test_raw_geometry_passes_the_distortion_through(start_node, frames):
    frame, camera = distorted_frame(frames)
    node, rig = start_node(SceneTruthEstimator(frames), alignment_mode='fixed', output_geometry='raw', cloud_stride=1)
    publish(rig, frame, camera, 1_000_000_000)
    info = rig.received['depth/camera_info'][0]
    assert info.d[0] == pytest.approx(-0.2) and info.distortion_model == 'plumb_bob'
    np.testing.assert_allclose(np.reshape(info.k, (3, 3)), camera.K)
    assert decode_image(rig.received['depth/image'][0]).shape == (camera.height, camera.width)
