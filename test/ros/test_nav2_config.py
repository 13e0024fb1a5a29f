"""The shipped nav2 configurations agree with the node's navigation parameters and QoS, so they cannot drift.

Each config/nav2/ file is read as nav2 reads it; every observation source must name one of the node's
navigation outputs with its message type and frame, and its height band and ranges must lie within
what the node publishes under config/depthmaster_nav.yaml (loaded after config/depthmaster.yaml, as
nav:=true does). The node's output QoS must match nav2's sensor-data subscriptions.
"""
import math
from pathlib import Path

import pytest
from rclpy.qos import QoSCompatibility, qos_check_compatible, qos_profile_sensor_data
import yaml

from depthmaster_ros.config import BY_NAME, Config, load_params_file
from depthmaster_ros.ros import output_qos

ROOT = Path(__file__).resolve().parents[2]
NAV2 = ROOT / 'config' / 'nav2'
# output topic -> (message type a source must declare, the node's parameters behind it)
OUTPUTS = {
    'depth/scan': ('LaserScan', dict(min='scan_min_height', max='scan_max_height', range='scan_range_max')),
    'depth/obstacles': ('PointCloud2', dict(min='obstacle_min_height', max='obstacle_max_height', range='obstacle_max_range')),
}
LAYERS = {'nav2_costmap_2d::ObstacleLayer', 'nav2_costmap_2d::VoxelLayer',
          'spatio_temporal_voxel_layer/SpatioTemporalVoxelLayer'}


def navigation_config():
    params = {**load_params_file(ROOT / 'config' / 'depthmaster.yaml'),
              **yaml.safe_load((ROOT / 'config' / 'depthmaster_nav.yaml').read_text())['/**']['ros__parameters']}
    return Config.from_params(params)


def costmap_layers():
    """(file, layer name, layer parameters) of every depth layer in config/nav2/."""
    found = []
    for path in sorted(NAV2.glob('*.yaml')):
        costmap = yaml.safe_load(path.read_text())['local_costmap']['local_costmap']['ros__parameters']
        for name in costmap['plugins']:
            if costmap[name]['plugin'] in LAYERS:
                found.append((path.name, name, costmap[name]))
    return found


def sources(layer):
    return [(name, layer[name]) for name in layer['observation_sources'].split()]


def test_the_nav_params_turn_both_outputs_on_and_name_only_known_parameters():
    document = yaml.safe_load((ROOT / 'config' / 'depthmaster_nav.yaml').read_text())['/**']['ros__parameters']
    assert set(document) <= set(BY_NAME)
    navigation = navigation_config().navigation
    assert navigation.publish_scan and navigation.publish_obstacles


def test_there_is_an_obstacle_a_voxel_and_a_spatio_temporal_voxel_layer():
    plugins = {layer['plugin'] for _, _, layer in costmap_layers()}
    assert plugins == LAYERS


@pytest.mark.parametrize('file, name, layer', costmap_layers(), ids=lambda value: value if isinstance(value, str) else '')
def test_every_source_matches_the_node_output_it_reads(file, name, layer):
    navigation = navigation_config().navigation
    for source_name, source in sources(layer):
        topic = source['topic'].lstrip('/')
        assert topic in OUTPUTS, f'{file}/{source_name}: {source["topic"]} is not a navigation output'
        message_type, names = OUTPUTS[topic]
        where = f'{file}/{source_name}'
        # data_type defaults to LaserScan in nav2: always written out, and right
        assert source['data_type'] == message_type, where
        assert source.get('sensor_frame', '') == '', f'{where}: the message frame_id is the sensor frame'
        if source.get('marking', True):
            # max_obstacle_height defaults to 0.0 (drops every point): set, and inside the node's band
            assert source['min_obstacle_height'] == pytest.approx(getattr(navigation, names['min'])), where
            assert source['max_obstacle_height'] == pytest.approx(getattr(navigation, names['max'])), where
            assert source['max_obstacle_height'] <= layer.get('max_obstacle_height', 2.0), where
            marking_range = source.get('obstacle_max_range', source.get('obstacle_range'))
            assert marking_range is not None and marking_range <= getattr(navigation, names['range']) + 1e-9, where
        if source.get('clearing', False) and 'raytrace_max_range' in source:
            assert source['raytrace_max_range'] <= getattr(navigation, names['range']) + 1e-9, where
        if message_type == 'LaserScan':
            assert source['inf_is_valid'] is True, f'{where}: +inf beams are free space (REP 117)'
            assert navigation.scan_frame, where


def test_voxel_columns_reach_the_top_of_the_obstacle_band():
    navigation = navigation_config().navigation
    (layer,) = [layer for _, _, layer in costmap_layers() if layer['plugin'] == 'nav2_costmap_2d::VoxelLayer']
    assert layer['z_voxels'] <= 16
    assert layer['origin_z'] + layer['z_voxels'] * layer['z_resolution'] >= navigation.obstacle_max_height - 1e-9


def test_the_depth_camera_frustum_clears_only_what_the_obstacle_cloud_covers():
    config = navigation_config()
    (layer,) = [layer for _, _, layer in costmap_layers()
                if layer['plugin'] == 'spatio_temporal_voxel_layer/SpatioTemporalVoxelLayer']
    clearing = [source for _, source in sources(layer) if source.get('clearing')]
    assert clearing and all(source['model_type'] == 0 for source in clearing)      # depth camera frustum
    # the frustum looks along the cloud frame's z: the cloud must stay in the optical frame
    assert config.navigation.obstacle_frame == ''
    for source in clearing:
        assert source['topic'].lstrip('/') == 'depth/obstacles'
        assert source['max_z'] <= config.navigation.obstacle_max_range + 1e-9
        assert config.alignment.min_depth <= source['min_z'] < source['max_z']
        assert 0 < source['vertical_fov_angle'] < math.pi and 0 < source['horizontal_fov_angle'] < math.pi
    assert layer['voxel_size'] == pytest.approx(config.navigation.obstacle_voxel_m)


@pytest.mark.parametrize('reliability', BY_NAME['output_reliability'].choices)
def test_the_outputs_qos_matches_nav2_sensor_data_subscriptions(reliability):
    compatibility, reason = qos_check_compatible(output_qos(reliability), qos_profile_sensor_data)
    assert compatibility != QoSCompatibility.ERROR, reason


def test_nav_true_in_the_launch_files_loads_the_nav_params_and_they_are_installed():
    import ast

    def constants(name):
        tree = ast.parse((ROOT / 'launch' / name).read_text())
        return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    main, example = constants('depthmaster.launch.py'), constants('camera_lidar.launch.py')
    assert {'nav', 'nav_params_file', 'depthmaster_nav.yaml'} <= main
    assert 'nav' in example                                 # passed through to the main launch file
    setup = (ROOT / 'setup.py').read_text()
    assert "share('config/nav2/*.yaml')" in setup and "share('config/*.yaml'" in setup
