"""ament_python package: installs the Python package, console scripts and the share/ files."""
from glob import glob
import os

from setuptools import find_packages, setup

package_name = 'depthmaster_ros'


def requirements(path):
    with open(path) as lines:
        return [line.strip() for line in lines if line.strip() and not line.startswith(('#', '-'))]


def share(*patterns):
    return sorted(f for p in patterns for f in glob(p) if os.path.isfile(f))


setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(include=[package_name, package_name + '.*']),
    package_data={package_name: ['data/*']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/launch', share('launch/*.launch.py')),
        ('share/' + package_name + '/config', share('config/*.yaml', 'config/*.xml', 'config/*.rviz')),
        ('share/' + package_name + '/config/nav2', share('config/nav2/*.yaml')),
        ('share/' + package_name + '/msg', share('msg/*.msg')),
    ],
    install_requires=['setuptools'],
    extras_require={'fleet': requirements('requirements-fleet.txt')},   # `depthmaster-ros batch --executor ray`
    zip_safe=True,
    maintainer='depthmaster_ros maintainers',
    maintainer_email='maintainers@depthmaster-ros.dev',
    description='DepthMaster single-step diffusion depth for ROS 2, aligned to metres with LiDAR or camera geometry.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'depthmaster-ros = depthmaster_ros.cli:main',
            'depthmaster_node = depthmaster_ros.ros.process:main',
            'depthmaster_lifecycle_node = depthmaster_ros.ros.process:lifecycle_main',
        ],
    },
)
