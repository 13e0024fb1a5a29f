"""Launch depthmaster_node with a params file, an optional namespace and topic remappings, and
optionally RViz (rviz:=true) showing the camera image, metric depth, the depth cloud and the LiDAR.
nav:=true also loads config/depthmaster_nav.yaml (nav_params_file) after params_file: depth/scan and
depth/obstacles on, with the bands and ranges config/nav2/ is written against (docs/navigation.md).

    ros2 launch depthmaster_ros depthmaster.launch.py \
        image:=/camera/color/image_raw camera_info:=/camera/color/camera_info points:=/lidar/points \
        rviz:=true rviz_fixed_frame:=camera_color_optical_frame

RViz runs in the node's namespace with the node's remappings, so the relative topic names in
config/depthmaster.rviz resolve to exactly the topics the node reads and writes.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription

PACKAGE = 'depthmaster_ros'
EXECUTABLE = 'depthmaster_node'
LARGE_DATA_PROFILE = 'fastdds_large_data.xml'
# Fast DDS 3 (Kilted and newer) reads the first, Fast DDS 2 (Jazzy) the second
PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    default_params = os.path.join(share, 'config', 'depthmaster.yaml')
    arguments = [
        DeclareLaunchArgument('params_file', default_value=default_params, description='node parameters YAML'),
        DeclareLaunchArgument('nav', default_value='false',
                              description='also load nav_params_file: depth/scan and depth/obstacles for nav2'),
        DeclareLaunchArgument('nav_params_file', default_value=os.path.join(share, 'config', 'depthmaster_nav.yaml'),
                              description='navigation parameters loaded after params_file when nav:=true'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the node and its topics'),
        DeclareLaunchArgument('image', default_value='image', description='input sensor_msgs/Image topic'),
        DeclareLaunchArgument('compressed_image', default_value='image/compressed',
                              description='input sensor_msgs/CompressedImage topic (image_transport: compressed)'),
        DeclareLaunchArgument('camera_info', default_value='camera_info', description='input CameraInfo topic'),
        DeclareLaunchArgument('points', default_value='points', description='input LiDAR PointCloud2 topic'),
        DeclareLaunchArgument('output_points', default_value='depth/points', description='output PointCloud2 topic'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='use /clock (bag playback)'),
        DeclareLaunchArgument('large_data_profile', default_value=os.path.join(share, 'config', LARGE_DATA_PROFILE),
                              description='Fast DDS profile for large best-effort messages; every process exchanging '
                                          'images and clouds with the node needs the same one'),
        DeclareLaunchArgument('rviz', default_value='false', description='also start RViz with the shipped view'),
        DeclareLaunchArgument('rviz_config', default_value=os.path.join(share, 'config', 'depthmaster.rviz'),
                              description='RViz configuration file'),
        DeclareLaunchArgument('rviz_fixed_frame', default_value='camera_optical_frame',
                              description="RViz fixed frame: the camera's optical frame (the images' frame_id)"),
    ]
    remappings = [
        ('image', LaunchConfiguration('image')),
        ('image/compressed', LaunchConfiguration('compressed_image')),
        ('camera_info', LaunchConfiguration('camera_info')),
        ('points', LaunchConfiguration('points')),
        ('depth/points', LaunchConfiguration('output_points')),
    ]
    # every process this launch starts (the node, and a driver included next to it) loads the profile
    profile = [SetEnvironmentVariable(variable, LaunchConfiguration('large_data_profile'))
               for variable in PROFILE_VARIABLES]

    def node(context):
        """The node, with the navigation parameters after the others when nav:=true."""
        files = [LaunchConfiguration('params_file')]
        if LaunchConfiguration('nav').perform(context).lower() in ('true', '1', 'yes'):
            files.append(LaunchConfiguration('nav_params_file'))
        return [Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            name='depthmaster_node',
            namespace=LaunchConfiguration('namespace'),
            output='screen',
            emulate_tty=True,
            parameters=[*files, {'use_sim_time': LaunchConfiguration('use_sim_time')}],
            remappings=remappings,
        )]
    rviz = Node(
        package='rviz2',
        executable='rviz2',
        name='rviz2',
        namespace=LaunchConfiguration('namespace'),
        arguments=['-d', LaunchConfiguration('rviz_config'), '-f', LaunchConfiguration('rviz_fixed_frame')],
        parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}],
        remappings=remappings,
        condition=IfCondition(LaunchConfiguration('rviz')),
    )
    return LaunchDescription(arguments + profile + [OpaqueFunction(function=node), rviz])
