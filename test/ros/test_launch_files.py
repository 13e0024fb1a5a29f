"""Launch files and the venv CLI. launch/launch_ros have no pip wheels here, so the launch files are
loaded for their structure (executable, package, arguments, shipped config) and a real launch is left
to machines with a ROS install; the venv CLI that reads the same YAML is run for real."""
import ast
import importlib.util
from pathlib import Path

import pytest

from depthmaster_ros.commands import ros_argv

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = ('depthmaster.launch.py', 'camera_lidar.launch.py')


def launch_source(name):
    return (ROOT / 'launch' / name).read_text()


def string_constants(tree):
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def launch_available():
    return all(importlib.util.find_spec(name) is not None for name in ('launch', 'launch_ros'))


@pytest.mark.parametrize('name', LAUNCH_FILES)
def test_launch_file_defines_generate_launch_description(name):
    tree = ast.parse(launch_source(name), filename=name)
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    assert 'depthmaster_ros' in string_constants(tree)


def test_main_launch_file_runs_the_installed_node_with_the_shipped_params():
    tree = ast.parse(launch_source('depthmaster.launch.py'))
    constants = string_constants(tree)
    assert 'depthmaster_node' in constants
    assert {'params_file', 'namespace', 'image', 'camera_info', 'points', 'use_sim_time'} <= constants
    assert 'depthmaster.yaml' in constants and (ROOT / 'config' / 'depthmaster.yaml').is_file()
    # the executable it names is the console script setup.py installs
    setup = (ROOT / 'setup.py').read_text()
    assert "'depthmaster_node = depthmaster_ros.ros.process:main'" in setup


def test_camera_lidar_example_includes_the_main_launch_file():
    constants = string_constants(ast.parse(launch_source('camera_lidar.launch.py')))
    assert 'depthmaster.launch.py' in constants
    assert {'image', 'camera_info', 'points'} <= constants


@pytest.mark.skipif(not launch_available(), reason='launch and launch_ros are not installable from pip here; '
                                                  'a ROS install runs this part')
@pytest.mark.parametrize('name', LAUNCH_FILES)
def test_launch_description_builds(name):
    spec = importlib.util.spec_from_file_location(name.replace('.', '_'), ROOT / 'launch' / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.generate_launch_description().entities


def test_cli_passes_the_params_file_to_rclpy():
    import argparse

    from depthmaster_ros.commands import node as node_command
    parser = argparse.ArgumentParser()
    node_command.add_arguments(parser)
    args = parser.parse_args(['--params', 'p.yaml', '--ros-args', '-r', 'image:=/cam/image', '-p', 'processing_res:=512'])
    assert ros_argv(args.params, args.ros_args) == [
        'depthmaster_node', '--ros-args', '--params-file', 'p.yaml', '-r', 'image:=/cam/image',
        '-p', 'processing_res:=512']
    assert ros_argv(None, []) == ['depthmaster_node', '--ros-args']


def test_cli_refuses_a_bad_params_file_before_loading_anything(tmp_path, capsys):
    import argparse

    from depthmaster_ros.commands import node as node_command
    bad = tmp_path / 'bad.yaml'
    bad.write_text('/**:\n  ros__parameters:\n    alignment_mode: sonar\n')
    parser = argparse.ArgumentParser()
    node_command.add_arguments(parser)
    assert node_command.run(parser.parse_args(['--params', str(bad)])) == 2
    assert 'alignment_mode' in capsys.readouterr().err


@pytest.mark.parametrize('name', LAUNCH_FILES)
def test_launch_files_set_the_large_data_profile_for_every_process_they_start(name):
    """SetEnvironmentVariable before the nodes, for Fast DDS 3 and 2, defaulting to the shipped profile."""
    tree = ast.parse(launch_source(name))
    constants = string_constants(tree)
    assert {'FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE'} <= constants
    assert 'fastdds_large_data.xml' in constants and (ROOT / 'config' / 'fastdds_large_data.xml').is_file()
    calls = [node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert 'SetEnvironmentVariable' in calls
    returned = next(node for node in ast.walk(tree) if isinstance(node, ast.Return)
                    and isinstance(node.value, ast.Call) and getattr(node.value.func, 'id', '') == 'LaunchDescription')
    assert 'profile' in ast.unparse(returned)        # the environment actions are part of the description
