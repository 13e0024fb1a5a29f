"""Pairing images with the camera_info of their stamp (the rule shared by the node and the bag tool)."""
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.pipeline import CAMERA_INFO_MISSING, CAMERA_INFO_UNMATCHED, CAMERA_INFO_WAIT, CameraInfoSync


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


CAMERA = CameraModel.pinhole(64, 48, 50.0)


def test_an_image_takes_only_the_camera_info_of_its_stamp():
    sync = CameraInfoSync(0.0, 1.0, clock=Clock())
    sync.add_info(1_000, CAMERA)
    assert sync.match(1_000)[0] is CAMERA and sync.match(1_001) is None
    [paired] = sync.add_image('a', 1_000)
    assert paired.camera is CAMERA and not paired.fault


def test_an_image_waits_for_its_camera_info_and_is_released_when_it_comes():
    sync = CameraInfoSync(0.0, 1.0, clock=Clock())
    assert sync.add_image('a', 2_000) == [] and sync.waiting == 1
    [paired] = sync.add_info(2_000, CAMERA)
    assert paired.item == 'a' and paired.camera is CAMERA and sync.waiting == 0


def test_a_newer_camera_info_releases_an_image_whose_own_was_lost():
    sync = CameraInfoSync(0.0, 1.0, clock=Clock())
    sync.add_image('a', 2_000)
    [paired] = sync.add_info(3_000, CAMERA)
    assert paired.camera is None and paired.fault == CAMERA_INFO_UNMATCHED and not paired.dropped


def test_without_camera_info_an_image_gets_relative_depth_after_the_timeout_then_at_once():
    clock = Clock()
    sync = CameraInfoSync(0.0, 1.0, clock=clock)
    sync.add_image('a', 1_000)
    assert sync.expire() == []
    clock.now += 1.0
    [paired] = sync.expire()
    assert paired.item == 'a' and paired.camera is None and paired.fault == CAMERA_INFO_MISSING
    [paired] = sync.add_image('b', 2_000)              # none for a whole timeout: no more waiting
    assert paired.camera is None and paired.fault == CAMERA_INFO_MISSING


def test_images_waiting_beyond_the_buffer_are_dropped_oldest_first():
    sync = CameraInfoSync(0.0, 1.0, image_capacity=2, clock=Clock())
    assert sync.add_image('a', 1) == [] and sync.add_image('b', 2) == []
    [paired] = sync.add_image('c', 3)
    assert paired.item == 'a' and paired.dropped and paired.fault == CAMERA_INFO_WAIT


def test_a_refused_camera_info_gives_its_image_no_intrinsics():
    sync = CameraInfoSync(0.0, 1.0, clock=Clock())
    sync.add_info(1_000, None, 'k: all zero')
    [paired] = sync.add_image('a', 1_000)
    assert paired.camera is None and 'k: all zero' in paired.reason


def test_slop_pairs_the_nearest_stamp_within_it():
    sync = CameraInfoSync(0.001, 1.0, clock=Clock())
    other = CameraModel.pinhole(64, 48, 60.0)
    sync.add_info(1_000_000_000, CAMERA)
    sync.add_info(1_000_900_000, other)
    assert sync.match(1_000_800_000)[0] is other and sync.match(1_002_000_000) is None
