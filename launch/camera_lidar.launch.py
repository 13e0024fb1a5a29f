"""Example for a robot with a colour camera and a LiDAR: remaps the node's inputs to typical driver
topics and, when the robot's URDF does not already publish it, a static LiDAR-to-camera transform.

    ros2 launch depthmaster_ros camera_lidar.launch.py \
        image:=/camera/camera/color/image_raw camera_info:=/camera/camera/color/camera_info \
        points:=/ouster/points publish_lidar_tf:=true lidar_tf:='0.0 -0.08 -0.05 0 0 0 camera_color_optical_frame os_sensor' \
        rviz:=true
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = 'depthmaster_ros'


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument('namespace', default_value='depthmaster'),
        DeclareLaunchArgument('params_file', default_value=os.path.join(share, 'config', 'depthmaster.yaml')),
        DeclareLaunchArgument('image', default_value='/camera/camera/color/image_raw'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera/color/camera_info'),
        DeclareLaunchArgument('points', default_value='/ouster/points'),
        DeclareLaunchArgument('use_sim_time', default_value='false'),
        DeclareLaunchArgument('enclave', default_value='/depthmaster', description='SROS2 enclave of the node'),
        DeclareLaunchArgument('nav', default_value='false',
                              description='also publish depth/scan and depth/obstacles for nav2 (config/depthmaster_nav.yaml)'),
        DeclareLaunchArgument('publish_lidar_tf', default_value='false',
                              description='publish lidar_tf as a static transform (when the URDF does not)'),
        DeclareLaunchArgument('large_data_profile', default_value=os.path.join(share, 'config', 'fastdds_large_data.xml'),
                              description='Fast DDS profile for large messages, set for every process started here'),
        DeclareLaunchArgument('lidar_tf', default_value='0 0 0 0 0 0 camera_color_optical_frame os_sensor',
                              description='x y z yaw pitch roll parent child, static_transform_publisher order'),
        DeclareLaunchArgument('rviz', default_value='false', description='also start RViz with the shipped view'),
        DeclareLaunchArgument('rviz_fixed_frame', default_value='camera_color_optical_frame',
                              description="RViz fixed frame: the camera's optical frame"),
    ]
    # before any process starts: the drivers included or added here and the node share the large-data profile
    profile = [SetEnvironmentVariable(variable, LaunchConfiguration('large_data_profile'))
               for variable in ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')]
    depthmaster = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(share, 'launch', 'depthmaster.launch.py')),
        launch_arguments={
            'namespace': LaunchConfiguration('namespace'),
            'params_file': LaunchConfiguration('params_file'),
            'image': LaunchConfiguration('image'),
            'camera_info': LaunchConfiguration('camera_info'),
            'points': LaunchConfiguration('points'),
            'use_sim_time': LaunchConfiguration('use_sim_time'),
            'enclave': LaunchConfiguration('enclave'),
            'nav': LaunchConfiguration('nav'),
            'rviz': LaunchConfiguration('rviz'),
            'rviz_fixed_frame': LaunchConfiguration('rviz_fixed_frame'),
            'large_data_profile': LaunchConfiguration('large_data_profile'),
        }.items(),
    )
    lidar_tf = Node(
        package='tf2_ros',
        executable='static_transform_publisher',
        name='lidar_to_camera_tf',
        arguments=LaunchConfiguration('lidar_tf'),
        condition=IfCondition(LaunchConfiguration('publish_lidar_tf')),
    )
    return LaunchDescription(arguments + profile + [depthmaster, lidar_tf])
