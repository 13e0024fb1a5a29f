"""A depth tensor (a frame kept on the GPU) gives the numpy answers; torch runs on whatever device the
tensor is on, here the CPU, and only the results come back."""
import dataclasses

import numpy as np
import pytest

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll, ground_plane_depth
from depthmaster_ros.config import Config
from depthmaster_ros.geometry import CameraModel, RigidTransform
from depthmaster_ros.navigation import nearest_per_voxel, obstacle_cloud, ops_for, scan_from_depth

torch = pytest.importorskip('torch')

CAMERA = CameraModel.pinhole(160, 120, 100.0, D=[-0.05, 0.01, 0.0, 0.0, 0.0], distortion_model='plumb_bob')
MOUNT = camera_to_base_from_height_pitch_roll(0.5, 0.15)
DEFAULTS = Config.from_params({}).navigation


def scene():
    depth = ground_plane_depth(CAMERA, MOUNT, 160, 120, 20.0)
    depth[20:70, 40:70] = 1.2                  # a box face, with blended columns beside it
    depth[20:70, 70], depth[20:70, 71] = 1.9, 2.6
    depth[40:90, 110:114] = 2.0                 # a post
    depth[0:5] = np.nan
    return depth.astype(np.float32)


@pytest.mark.parametrize('changes', [{}, {'scan_angle_increment': 0.002}, {'obstacle_edge_threshold': 0.0},
                                     {'scan_angle_min': -np.pi, 'scan_angle_max': np.pi}])
def test_the_scan_of_a_tensor_is_the_scan_of_the_array(changes):
    settings = dataclasses.replace(DEFAULTS, **changes)
    depth = scene()
    expected = scan_from_depth(depth, CAMERA, MOUNT, settings)
    got = scan_from_depth(torch.from_numpy(depth), CAMERA, MOUNT, settings)
    assert isinstance(got.ranges, np.ndarray) and got.ranges.dtype == np.float32
    assert (got.angle_min, len(got.ranges)) == (expected.angle_min, len(expected.ranges))
    np.testing.assert_allclose(got.ranges, expected.ranges, rtol=1e-5)
    assert np.isfinite(expected.ranges).sum() > 10 and np.isposinf(expected.ranges).sum() > 10


@pytest.mark.parametrize('changes', [{}, {'obstacle_voxel_m': 0.0}, {'obstacle_min_confidence': 0.5}])
def test_the_obstacle_cloud_of_a_tensor_is_the_cloud_of_the_array(changes):
    settings = dataclasses.replace(DEFAULTS, **changes)
    depth = scene()
    confidence = np.where(np.arange(160)[None, :] < 100, 1.0, 0.2).repeat(120, 0).astype(np.float32)
    expected = obstacle_cloud(depth, CAMERA, RigidTransform.identity(), settings, confidence, camera_to_height_frame=MOUNT)
    got = obstacle_cloud(torch.from_numpy(depth), CAMERA, RigidTransform.identity(), settings, confidence,
                         camera_to_height_frame=MOUNT)
    assert len(expected) > 20 and got.dtype == np.float32
    order = lambda cloud: cloud[np.lexsort(cloud.T)]          # noqa: E731 - the same points, in any order
    np.testing.assert_allclose(order(got), order(expected), atol=1e-5)


def test_voxel_representatives_agree_including_the_empty_cloud():
    rng = np.random.default_rng(3)
    columns = tuple(rng.uniform(0, 1, 500).astype(np.float32) for _ in range(3))
    distance = rng.uniform(0.5, 3.0, 500).astype(np.float32)
    host = nearest_per_voxel(columns, distance, 0.1)
    tensors = tuple(torch.from_numpy(c) for c in columns)
    device = nearest_per_voxel(tensors, torch.from_numpy(distance), 0.1, ops_for(tensors[0]))
    assert sorted(host.tolist()) == sorted(device.tolist())
    assert len(nearest_per_voxel(tuple(t[:0] for t in tensors), torch.from_numpy(distance)[:0], 0.1,
                                 ops_for(tensors[0]))) == 0
