"""Fixtures for tests that need a synthetic scene with exact ground truth.

`scene` is the default generator (640x480 camera, 32-beam LiDAR, no sensor noise); `scene_frame` is its
frame at t = 0. Both are shared across the session, so the frame's arrays are read-only: copy before
changing them.
"""
import pytest

from depthmaster_ros.synthetic import SyntheticScene


@pytest.fixture(scope='session')
def scene():
    return SyntheticScene()


@pytest.fixture(scope='session')
def scene_frame(scene):
    frame = scene.render(0.0)
    for array in (frame.rgb, frame.depth, frame.lidar_points):
        array.setflags(write=False)
    return frame
