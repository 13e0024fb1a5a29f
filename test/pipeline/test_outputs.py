"""Which messages a frame produces: the one rule the node publishes by and the bag tool writes by."""
import numpy as np

from depthmaster_ros.alignment import AlignmentRecord
from depthmaster_ros.bag import messages as builders
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.navigation import Scan
from depthmaster_ros.pipeline import OUTPUT_TOPICS, FrameOutput, NavigationOutput, depth_to_millimetres, frame_messages

HEADER = builders.header(1_000, 'camera_optical')


SCAN = Scan(-0.5, 0.5, 0.5, 0.1, 8.0, np.array([1.0, np.inf, np.nan], np.float32))


def output(depth=True, points=12, navigation=None):
    relative = np.linspace(0.1, 1.0, 12, dtype=np.float32).reshape(3, 4)
    return FrameOutput(depth_m=relative * 10 if depth else None, relative=relative, space='sqrt_disparity',
                       confidence=np.ones((3, 4), np.float32), camera=CameraModel.pinhole(4, 3, 2.0),
                       points=np.ones((points, 3), np.float32) if depth else None, colors=None,
                       record=AlignmentRecord(mode='fixed', ok=depth), navigation=navigation)


def navigation(merged=False):
    return NavigationOutput(scan=SCAN, scan_frame='base_link', obstacles=np.ones((5, 3), np.float32),
                            obstacle_frame='camera_optical', merged=merged)


def names(result):
    return [name for name, _ in result.messages]


def test_every_output_in_publish_order_with_the_source_header():
    settings = Config.from_params({'publish_depth_mm': True, 'publish_confidence': True}).output
    result = frame_messages(output(navigation=navigation()), HEADER, settings, builders)
    assert names(result) == ['camera_info', 'depth', 'depth_mm', 'relative', 'confidence', 'points', 'scan',
                             'obstacles', 'alignment']
    assert set(names(result)) == set(OUTPUT_TOPICS) and result.cloud_withheld == 0
    messages = dict(result.messages)
    assert all(messages[name].header == HEADER for name in messages if name != 'scan')
    assert messages['scan'].header.frame_id == 'base_link' and messages['scan'].header.stamp == HEADER.stamp
    assert messages['obstacles'].width == 5 and messages['obstacles'].point_step == 12


def test_navigation_outputs_go_only_with_metres_and_a_ring_member_keeps_its_scan_for_the_merge():
    settings = Config.from_params({}).output
    assert 'scan' not in names(frame_messages(output(depth=False, navigation=navigation()), HEADER, settings, builders))
    ring_member = names(frame_messages(output(navigation=navigation(merged=True)), HEADER, settings, builders))
    assert 'scan' not in ring_member and 'obstacles' in ring_member


def test_without_metres_there_is_no_depth_and_no_cloud():
    settings = Config.from_params({'publish_depth_mm': True}).output
    assert names(frame_messages(output(depth=False), HEADER, settings, builders)) == \
        ['camera_info', 'relative', 'confidence', 'alignment']


def test_switched_off_outputs_are_not_produced():
    settings = Config.from_params({'publish_relative': False, 'publish_confidence': False,
                                   'publish_cloud': False}).output
    assert names(frame_messages(output(), HEADER, settings, builders)) == ['camera_info', 'depth', 'alignment']


def test_a_cloud_above_cloud_max_points_is_withheld_and_counted():
    settings = Config.from_params({'cloud_max_points': 11}).output
    result = frame_messages(output(points=12), HEADER, settings, builders)
    assert 'points' not in names(result) and result.cloud_withheld == 12
    assert 'depth' in names(result)                              # the rest of the frame still goes out


def test_millimetres_are_rounded_and_zero_where_invalid_or_out_of_range():
    depth = np.array([[0.0004, 1.2346, np.nan, -1.0, 65.535, 65.536]], np.float32)
    np.testing.assert_array_equal(depth_to_millimetres(depth), [[0, 1235, 0, 0, 65535, 0]])
