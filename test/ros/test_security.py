"""DDS security fails closed: with ROS_SECURITY_ENABLE=true and ROS_SECURITY_STRATEGY=Enforce the node refuses to
start, within 10 s and naming the fix, when it has no keys or its Fast DDS has no security plugins; and the SROS2
policy `depthmaster-ros security permissions` prints is what a running node uses on real DDS."""
import os
from pathlib import Path
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import pytest

from depthmaster_ros.ros import ENCLAVE_FILES, has_security_plugins

from fixtures_process import CLI, start_node_process, wait_for_line, write_node_params
from fixtures_ros import spin_until

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def enforced_env(keystore=None):
    env = {**os.environ, 'ROS_SECURITY_ENABLE': 'true', 'ROS_SECURITY_STRATEGY': 'Enforce'}
    env.pop('ROS_SECURITY_KEYSTORE', None)
    if keystore is not None:
        env['ROS_SECURITY_KEYSTORE'] = str(keystore)
    return env


def run_refused(params, env):
    started = time.monotonic()
    process = start_node_process(params, '--ros-args', '--enclave', '/depthmaster', env=env)
    try:
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, output, time.monotonic() - started


def registry_fast_dds():
    """The Fast DDS library this venv's rmw loads, found the way the node finds it (after rclpy.init)."""
    code = ('import rclpy; rclpy.init(); from depthmaster_ros.ros.security import loaded_dds_libraries; '
            'print(*loaded_dds_libraries())')
    return [Path(p) for p in subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                                            check=True).stdout.split()]


def test_enforced_security_without_plugins_refuses_within_10_s(tmp_path, tiny_model_dir):
    libraries = registry_fast_dds()
    if any(has_security_plugins(library) for library in libraries):
        pytest.skip(f'{libraries}: this Fast DDS has its security plugins (a ROS distribution build)')
    enclave = tmp_path / 'keystore' / 'enclaves' / 'depthmaster'
    enclave.mkdir(parents=True)
    for name in ENCLAVE_FILES:                        # present, so rcl goes on to the DDS
        (enclave / name).write_text('placeholder\n')
    code, output, took_s = run_refused(write_node_params(tmp_path, tiny_model_dir), enforced_env(tmp_path / 'keystore'))
    assert code != 0 and took_s < 10, (code, took_s, output)
    assert 'built without the DDS security plugins' in output and str(libraries[0].name) in output
    assert 'ros-<distro>-rmw-fastrtps-cpp' in output and 'Traceback' not in output
    assert 'loading' not in output                      # refused before the model, before any node


def test_enforced_security_without_keys_refuses_naming_the_keystore(tmp_path, tiny_model_dir):
    params = write_node_params(tmp_path, tiny_model_dir)
    code, output, took_s = run_refused(params, enforced_env())
    assert code != 0 and took_s < 10 and 'ROS_SECURITY_KEYSTORE is not set' in output, output
    code, output, _ = run_refused(params, enforced_env(tmp_path / 'empty_keystore'))
    assert code != 0 and 'enclave /depthmaster has no identity_ca.cert.pem' in output, output
    assert 'ros2 security create_enclave' in output and 'Traceback' not in output


def policy_names(xml_text):
    profile = ElementTree.fromstring(xml_text).find('./enclaves/enclave/profiles/profile')
    names = {}
    for group in profile:
        verb = next(iter(group.attrib))
        names[verb] = sorted(item.text for item in group)
    return profile.attrib, names


def test_printed_permissions_are_what_a_running_node_uses(tmp_path, tiny_model_dir, ros_executor):
    params = write_node_params(tmp_path, tiny_model_dir, image_transport="'compressed'", cameras="['front', 'left']",
                               lazy='false')
    remap = 'front/camera_info:=/drivers/front/camera_info'
    printed = subprocess.run([CLI, 'security', 'permissions', '--params', str(params), '--namespace', '/robot',
                              '-r', remap], capture_output=True, text=True, check=True).stdout
    attributes, allowed = policy_names(printed)
    assert attributes == {'ns': '/robot', 'node': 'depthmaster_node'}

    process = start_node_process(params, '--ros-args', '-r', '__ns:=/robot', '-r', remap)
    try:
        output = wait_for_line(process, 'ready:', 120)
        assert 'ready:' in output, output
        import rclpy
        observer = rclpy.create_node('permissions_observer', context=ros_executor.context)
        ros_executor.add_node(observer)

        def graph():
            return ({name for name, _ in observer.get_publisher_names_and_types_by_node('depthmaster_node', '/robot')},
                    {name for name, _ in observer.get_subscriber_names_and_types_by_node('depthmaster_node', '/robot')},
                    {name for name, _ in observer.get_service_names_and_types_by_node('depthmaster_node', '/robot')})
        def discovered():
            return ('depthmaster_node', '/robot') in observer.get_node_names_and_namespaces() and \
                len(graph()[0]) >= len(allowed['publish']) and len(graph()[2]) >= len(allowed['reply'])
        assert spin_until(ros_executor, discovered, timeout_s=30), observer.get_node_names_and_namespaces()
        publishers, subscribers, services = graph()
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert sorted(publishers) == allowed['publish']
    assert sorted(services) == allowed['reply']
    assert subscribers <= set(allowed['subscribe'])
    assert set(allowed['subscribe']) - subscribers == {'/robot/points'}     # alignment_mode may switch to lidar
    assert '/drivers/front/camera_info' in subscribers and '/robot/left/image/compressed' in subscribers


def test_launch_files_pass_an_enclave():
    import ast
    launch = Path(__file__).resolve().parents[2] / 'launch'
    for name in ('depthmaster.launch.py', 'camera_lidar.launch.py'):
        constants = {node.value for node in ast.walk(ast.parse((launch / name).read_text()))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str)}
        assert {'enclave', '/depthmaster'} <= constants, name
    main = (launch / 'depthmaster.launch.py').read_text()
    assert "ros_arguments=['--enclave', LaunchConfiguration('enclave')]" in main
