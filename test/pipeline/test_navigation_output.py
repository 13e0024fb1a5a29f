"""A frame's navigation outputs: switches, the TF lookup and its ground-plane fallback, frames, the ring."""
import numpy as np

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll, ground_plane_depth
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import CameraModel, RigidTransform, TransformBuffer
from depthmaster_ros.navigation import Scan, obstacle_cloud, scan_from_depth
from depthmaster_ros.pipeline import NAVIGATION_FRAME, merged_scan, navigation_output

CAMERA = CameraModel.pinhole(160, 120, 100.0)
NAV = {'publish_scan': True, 'publish_obstacles': True}


def box_in_front(camera_to_base):
    depth = ground_plane_depth(CAMERA, camera_to_base, 160, 120, 20.0)
    depth[30:80, 60:100] = 1.5
    return depth


def test_nothing_is_computed_while_both_switches_are_off():
    output, warnings = navigation_output(np.full((120, 160), 2.0, np.float32), None, CAMERA, 'cam', 1, None,
                                         Config.from_params({}))
    assert output.scan is None and output.obstacles is None and not warnings


def test_without_tf_the_camera_height_pitch_roll_place_the_scan_frame():
    config = Config.from_params({**NAV, 'camera_height_m': 0.6, 'camera_pitch_rad': 0.2})
    fallback = camera_to_base_from_height_pitch_roll(0.6, 0.2)
    depth = box_in_front(fallback)
    output, warnings = navigation_output(depth, None, CAMERA, 'cam', 1, TransformBuffer(), config)
    assert not warnings and output.scan_frame == 'base_link' and output.obstacle_frame == 'cam'
    expected = scan_from_depth(depth, CAMERA, fallback, config.navigation)
    np.testing.assert_array_equal(output.scan.ranges, expected.ranges)
    np.testing.assert_array_equal(output.obstacles, obstacle_cloud(depth, CAMERA, RigidTransform.identity(),
                                                                    config.navigation, camera_to_height_frame=fallback))


def test_tf_wins_over_the_fallback_and_names_the_obstacle_frame():
    mounted = camera_to_base_from_height_pitch_roll(1.1, 0.3)
    tree = TransformBuffer()
    tree.set_transform('base_link', 'cam', mounted, static=True)
    odom_from_base = RigidTransform(np.eye(3), np.array([2.0, 0.0, 0.0]))
    tree.set_transform('odom', 'base_link', odom_from_base, static=True)
    config = Config.from_params({**NAV, 'obstacle_frame': 'odom'})
    depth = box_in_front(mounted)
    output, warnings = navigation_output(depth, None, CAMERA, 'cam', 5, tree, config)
    assert not warnings and output.obstacle_frame == 'odom'
    np.testing.assert_array_equal(output.scan.ranges, scan_from_depth(depth, CAMERA, mounted, config.navigation).ranges)
    in_odom = obstacle_cloud(depth, CAMERA, odom_from_base @ mounted, config.navigation, camera_to_height_frame=mounted)
    np.testing.assert_allclose(output.obstacles, in_odom, atol=1e-5)
    assert len(in_odom) and np.all(in_odom[:, 0] > 3.0)      # the box face, ahead of a robot at x = 2 in odom


def test_an_unknown_obstacle_frame_drops_the_cloud_with_a_warning_and_keeps_the_scan():
    config = Config.from_params({**NAV, 'obstacle_frame': 'map'})
    output, warnings = navigation_output(np.full((120, 160), 2.0, np.float32), None, CAMERA, 'cam', 1,
                                         TransformBuffer(), config)
    assert output.obstacles is None and output.scan is not None
    assert [w.kind for w in warnings] == [NAVIGATION_FRAME] and "'map'" in warnings[0].text


def test_a_ring_scans_the_full_circle_and_its_merged_stamp_is_the_oldest():
    config = Config.from_params({**NAV, 'cameras': ['front', 'back'], 'scan_merge': True})
    output, _ = navigation_output(np.full((120, 160), 2.0, np.float32), None, CAMERA, 'cam', 1, None, config)
    assert output.scan.angle_min == -np.pi and output.scan.angle_max > np.pi - output.scan.angle_increment
    a = Scan(-1.0, 1.0, 1.0, 0.1, 8.0, np.array([1.0, np.nan, np.nan], np.float32))
    b = Scan(-1.0, 1.0, 1.0, 0.1, 8.0, np.array([np.nan, np.inf, np.nan], np.float32))
    scan, stamp = merged_scan([(a, 300), (b, 200)])
    np.testing.assert_array_equal(scan.ranges, np.array([1.0, np.inf, np.nan], np.float32))
    assert stamp == 200


def test_a_frame_kept_on_the_device_gives_the_host_frames_navigation_outputs(tiny_estimator, frames):
    from depthmaster_ros.pipeline import DepthPipeline

    from fixtures_pipeline import frame_input
    config = Config.from_params({**NAV, 'alignment_mode': 'fixed', 'fixed_shift': 0.3, 'processing_res': 64,
                                 'scan_range_max': 20.0, 'obstacle_max_range': 20.0, 'scan_frame': 'base_footprint'})
    host = DepthPipeline(tiny_estimator, config, device_frames=False).process(frame_input(frames[0]))
    device = DepthPipeline(tiny_estimator, config, device_frames=True).process(frame_input(frames[0]))
    assert 'navigation' in device.timings and host.navigation.scan_frame == 'base_footprint'
    np.testing.assert_allclose(device.navigation.scan.ranges, host.navigation.scan.ranges, rtol=1e-4, atol=1e-5)
    assert np.isfinite(host.navigation.scan.ranges).any()
    assert abs(len(device.navigation.obstacles) - len(host.navigation.obstacles)) <= 2     # voxel edges, float order
