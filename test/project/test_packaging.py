"""The package installs and declares itself the way a colcon workspace and a fresh clone expect."""
import ast
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# import name -> rosdep key, for Python packages that have one
ROSDEP_KEYS = {
    'numpy': 'python3-numpy', 'cv2': 'python3-opencv', 'yaml': 'python3-yaml',
    'matplotlib': 'python3-matplotlib', 'tqdm': 'python3-tqdm', 'torch': 'python3-torch',
}
# ROS packages: the import name is the package name
ROS_PACKAGES = {
    'rclpy', 'builtin_interfaces', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'diagnostic_msgs',
    'rcl_interfaces', 'tf2_msgs', 'depthmaster_interfaces', 'launch', 'launch_ros', 'ament_index_python',
}
# Optional extras: imported lazily by one feature, pinned in their own requirements file, not in package.xml
OPTIONAL_IMPORTS = {'ray': 'requirements-fleet.txt'}


def third_party_imports():
    names = set()
    files = list((ROOT / 'depthmaster_ros').rglob('*.py')) + list((ROOT / 'launch').glob('*.py'))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split('.')[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split('.')[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != 'depthmaster_ros'}


def package_xml():
    return ET.parse(ROOT / 'package.xml').getroot()


def test_package_xml_is_format_3_ament_python():
    root = package_xml()
    assert root.get('format') == '3'
    assert root.findtext('name') == 'depthmaster_ros'
    assert root.find('export').findtext('build_type') == 'ament_python'


def test_package_xml_names_exactly_what_the_code_imports():
    imports = third_party_imports()
    exec_depends = {e.text for e in package_xml().iter('exec_depend')}
    expected = {n for n in imports if n in ROS_PACKAGES} | {ROSDEP_KEYS[n] for n in imports if n in ROSDEP_KEYS}
    assert exec_depends == expected
    pip_only = imports - ROS_PACKAGES - set(ROSDEP_KEYS) - set(OPTIONAL_IMPORTS)
    comment = ' '.join(c for c in re.findall(r'<!--(.*?)-->', (ROOT / 'package.xml').read_text(), re.S)
                       if 'pip' in c)
    listed = set(comment.split(':')[-1].split())
    assert listed == pip_only, 'package.xml pip comment must list the imported pip-only packages'


def test_pip_only_imports_are_pinned_in_requirements():
    requirements = (ROOT / 'requirements-python.txt').read_text().lower()
    distributions = {'huggingface_hub': 'diffusers'}  # arrives pinned through diffusers
    for name in third_party_imports() - ROS_PACKAGES - set(ROSDEP_KEYS) - set(OPTIONAL_IMPORTS):
        assert distributions.get(name, name).replace('_', '-').lower() + '==' in requirements, name
    assert 'ros-' not in requirements, 'a robot installs this file next to its ROS distro'
    assert '-r requirements-python.txt' in (ROOT / 'requirements.txt').read_text()
    for name, file in OPTIONAL_IMPORTS.items():
        pinned = re.search(rf'^{re.escape(name)}(\[[\w,]+\])?==', (ROOT / file).read_text(), re.MULTILINE)
        assert pinned, f'{name} must be pinned in {file}'
        assert f'-r {file}' in (ROOT / 'requirements.txt').read_text(), f'the test venv must install {file}'


def test_install_puts_launch_config_msg_and_node_where_ros2_finds_them(tmp_path):
    """The built distribution, as colcon's ament_python build installs it (the venv is left alone)."""
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                    '-w', str(tmp_path), str(ROOT)], check=True, cwd=tmp_path,
                   env={**os.environ, 'PIP_DISABLE_PIP_VERSION_CHECK': '1'})
    wheel, = tmp_path.glob('depthmaster_ros-*.whl')
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith('entry_points.txt'))
    data = 'depthmaster_ros-0.1.0.data/data/'
    for relative in ['share/depthmaster_ros/package.xml', 'share/depthmaster_ros/launch/depthmaster.launch.py',
                     'share/depthmaster_ros/launch/camera_lidar.launch.py', 'share/depthmaster_ros/config/depthmaster.yaml',
                     'share/depthmaster_ros/config/fastdds_large_data.xml', 'share/depthmaster_ros/msg/DepthAlignment.msg',
                     'share/ament_index/resource_index/packages/depthmaster_ros']:
        assert data + relative in names, relative
    assert 'depthmaster-ros = depthmaster_ros.cli:main' in entry_points
    assert 'depthmaster_node = depthmaster_ros.ros.process:main' in entry_points


def test_colcon_reads_install_scripts_into_lib_package():
    """`ros2 run depthmaster_ros depthmaster_node` looks in lib/<package>."""
    text = (ROOT / 'setup.cfg').read_text()
    assert 'install_scripts=$base/lib/depthmaster_ros' in text
    assert 'script_dir=$base/lib/depthmaster_ros' in text


def test_interface_package_builds_from_the_top_level_msg_folder():
    cmake = (ROOT / 'interfaces/depthmaster_interfaces/CMakeLists.txt').read_text()
    assert '../../msg' in cmake
    assert (ROOT / 'interfaces/tf2_msgs/COLCON_IGNORE').exists(), 'a ROS install has tf2_msgs already'


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / 'README.md').read_text()
    head = readme[:1500]
    assert 'make demo' in head and 'make test' in head
    commands = re.findall(r'^\s*(make \w+)', readme, re.M)
    assert commands[:2] == ['make demo', 'make test']


@pytest.mark.slow
def test_ci_entry_fails_when_no_test_is_collected():
    result = subprocess.run(['bash', '.ci/run'], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, 'PYTEST_ARGS': '-q -k no_test_is_named_like_this'})
    assert result.returncode != 0
    assert 'no tests were collected' in result.stderr
