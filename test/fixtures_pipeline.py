"""Scene frames and configuration for tests that run `DepthPipeline` (directly, or inside the node).

The estimators that go with them are in fixtures_estimators (they subclass the torch-based
DepthEstimator, so only the tests that use them import torch).
"""
import pytest

from depthmaster_ros.config import Config
from depthmaster_ros.geometry import StampedCloud, TransformBuffer
from depthmaster_ros.pipeline import FrameInput
from depthmaster_ros.synthetic import SyntheticScene

CAMERA_FRAME = 'camera_optical'
LIDAR_FRAME = 'lidar'
BASE_FRAME = 'base_footprint'   # REP 120: the floor frame, the node's default base_frame


@pytest.fixture(scope='module')
def small_scene():
    """A 128x96 scene: small enough for the tiny model on CPU, large enough for a LiDAR fit."""
    return SyntheticScene(width=128, height=96)


@pytest.fixture(scope='module')
def frames(small_scene):
    """Four consecutive frames of the small scene, 0.1 s apart."""
    return [small_scene.render(t) for t in (0.5, 0.6, 0.7, 0.8)]


def pipeline_config(**params):
    """The tests' pipeline configuration: a 64 px processing size and no temporal smoothing."""
    return Config.from_params({'processing_res': 64, 'temporal_smoothing': 0.0, **params})


def transforms_for(frame):
    """The scene frame's LiDAR and floor transforms, as /tf_static would carry them."""
    buffer = TransformBuffer()
    buffer.set_transform(CAMERA_FRAME, LIDAR_FRAME, frame.lidar_to_camera, static=True)
    buffer.set_transform(BASE_FRAME, CAMERA_FRAME, frame.camera_to_base, static=True)
    return buffer


def frame_input(frame, with_cloud=True, transforms='tf', **overrides):
    """A FrameInput for a scene frame: its camera, its cloud (stamped 1 ns after the image) and its transforms."""
    values = dict(rgb=frame.rgb, stamp_ns=frame.stamp_ns + 1, frame_id=CAMERA_FRAME, camera=frame.camera,
                  cloud=StampedCloud(frame.lidar_points, LIDAR_FRAME, frame.stamp_ns + 1) if with_cloud else None,
                  transforms=transforms_for(frame) if transforms == 'tf' else transforms)
    values.update(overrides)
    return FrameInput(**values)
