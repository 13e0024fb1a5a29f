"""The street scene: open sky, exact depth through its own world, the car ahead, and `make-sample --scene street`."""
import subprocess
import sys

import numpy as np
from rosbags.rosbag2 import Reader

from depthmaster_ros.synthetic import FLOOR, StreetScene, SyntheticError, make_scene, ray_cast, sample_bag, scene_names

WIDTH, HEIGHT = 96, 72


def test_sky_is_empty_and_the_road_is_at_the_camera_height():
    scene = StreetScene(width=WIDTH, height=HEIGHT)
    frame = scene.render(0.5)
    assert np.isnan(frame.depth[0]).mean() > 0.2                     # sky above the street: no depth
    assert np.isfinite(frame.depth[-1]).all()                        # the road below
    world_from_camera = frame.world_from_base @ frame.camera_to_base
    assert world_from_camera.translation[2] == np.float64(1.5)
    rays = frame.camera.pixel_rays()[-1]                             # the bottom row hits the road, z = 0
    points = world_from_camera.apply(np.column_stack([rays, np.ones(WIDTH)]) * frame.depth[-1][:, None])
    np.testing.assert_allclose(points[:, 2], 0.0, atol=1e-3)


def test_depth_is_what_the_ray_hits_in_the_world_of_that_instant():
    scene = StreetScene(width=WIDTH, height=HEIGHT)
    frame = scene.render(2.0)
    world_from_camera = frame.world_from_base @ frame.camera_to_base
    rays = frame.camera.pixel_rays().reshape(-1, 2)
    directions = np.column_stack([rays, np.ones(len(rays))]) @ world_from_camera.rotation.T
    t, surface, _, _ = ray_cast(world_from_camera.translation, directions, world=scene.world_at(2.0))
    np.testing.assert_allclose(np.where(np.isfinite(t), t, np.nan), frame.depth.ravel(), rtol=1e-4)
    assert (surface[np.isfinite(t)] > FLOOR).mean() > 0.3            # facades and cars, not only road


def test_the_car_ahead_keeps_pace_and_the_robot_moves_forward():
    scene = StreetScene(width=WIDTH, height=HEIGHT)
    early, late = scene.world_at(0.0).obstacles[-1], scene.world_at(5.0).obstacles[-1]
    gap_early = early[0][0] - scene.pose_at(0.0).translation[0]
    gap_late = late[0][0] - scene.pose_at(5.0).translation[0]
    assert 9.0 <= gap_early <= 15.0 and 9.0 <= gap_late <= 15.0
    assert scene.pose_at(5.0).translation[0] - scene.pose_at(0.0).translation[0] == np.float64(20.0)


def test_lidar_agrees_with_the_camera_within_its_range_noise():
    frame = StreetScene(width=160, height=120, lidar_range_noise=0.01).render(1.0)
    points = frame.lidar_points_in_camera()
    uv, valid = frame.camera.project(points)
    cols, rows = np.floor(uv[valid] + 0.5).astype(int).T
    relative = np.abs(points[valid, 2] - frame.depth[rows, cols]) / frame.depth[rows, cols]
    assert valid.sum() > 500
    assert np.median(relative) < 0.02


def test_scenes_by_name():
    assert scene_names() == ('room', 'street')
    assert isinstance(make_scene('street', width=32, height=24), StreetScene)
    try:
        make_scene('forest')
    except SyntheticError as error:
        assert 'room, street' in str(error)
    else:
        raise AssertionError('an unknown scene was accepted')


def test_make_sample_writes_a_street_bag(tmp_path):
    out = tmp_path / 'street.mcap'
    subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', 'make-sample', str(out), '--scene', 'street',
                    '--frames', '3', '--width', '64', '--height', '48', '--lidar-beams', '16'], check=True)
    with Reader(out) as reader:
        counts = {name: info.msgcount for name, info in reader.topics.items()}
    assert counts[sample_bag.GT_TOPIC] == 3 and counts[sample_bag.POINTS_TOPIC] == 3
    room = sample_bag.write_sample_bag(tmp_path / 'room.mcap', frames=2, width=64, height=48, scene='room')
    assert room[sample_bag.IMAGE_TOPIC] == 2
