"""config/depthmaster.rviz and the launch files' rviz:=true.

Every topic the RViz file names must be one a real DepthMasterNode publishes or subscribes to,
resolved the way rclpy resolves it for a node in the same namespace (the launch files start rviz2
there, with the node's remappings). launch_ros has no pip wheel here, so the launch files are read
for their structure, as test/ros/test_launch_files.py does.
"""
import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RVIZ_FILE = ROOT / 'config' / 'depthmaster.rviz'
NAMESPACE = '/viewer_check'


def rviz_config():
    return yaml.safe_load(RVIZ_FILE.read_text())


def displays(tree):
    """Every display, groups opened."""
    for display in tree.get('Displays', []):
        yield display
        yield from displays(display)


def rviz_topics():
    """(display class, display name, topic, reliability) for every display that subscribes to a topic."""
    found = []
    for display in displays(rviz_config()['Visualization Manager']):
        topic = display.get('Topic')
        if topic is None:
            continue
        value = topic['Value'] if isinstance(topic, dict) else topic
        reliability = topic.get('Reliability Policy') if isinstance(topic, dict) else None
        found.append((display['Class'], display['Name'], value, reliability))
    return found


def test_the_view_shows_camera_image_depth_depth_cloud_and_lidar():
    shown = {(cls.rsplit('/', 1)[-1], topic) for cls, _, topic, _ in rviz_topics()}
    assert {('Image', 'image'), ('Image', 'depth/image'), ('PointCloud2', 'depth/points'),
            ('PointCloud2', 'points')} <= shown
    assert rviz_config()['Visualization Manager']['Global Options']['Fixed Frame']


@pytest.mark.ros
def test_every_rviz_topic_is_one_the_node_publishes_or_reads(ros_context, tiny_estimator):
    from rclpy.expand_topic_name import expand_topic_name
    from rclpy.qos import ReliabilityPolicy

    from depthmaster_ros.ros import DepthMasterNode
    node = DepthMasterNode(estimator=tiny_estimator, context=ros_context, namespace=NAMESPACE)
    try:
        published = {pub.topic_name: pub for pub in node.publishers}
        subscribed = {sub.topic_name for sub in node.subscriptions}
        for cls, name, topic, reliability in rviz_topics():
            assert not topic.startswith('/'), f'{name}: {topic} must be relative to follow the namespace'
            resolved = expand_topic_name(topic, 'rviz2', NAMESPACE)
            assert resolved in published or resolved in subscribed, f'{name} ({cls}): nothing at {resolved}'
            if resolved in published:        # a reliable subscriber needs a reliable publisher
                offered = published[resolved].qos_profile.reliability
                assert reliability == 'Best Effort' or offered == ReliabilityPolicy.RELIABLE, name
            else:                            # camera and LiDAR drivers often publish best effort
                assert reliability == 'Best Effort', name
    finally:
        node.destroy_node()


def launch_tree(name):
    return ast.parse((ROOT / 'launch' / name).read_text(), filename=name)


def calls(tree, function):
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, 'id', getattr(node.func, 'attr', None)) == function]


def keywords(call):
    return {keyword.arg: keyword.value for keyword in call.keywords}


def declared_arguments(tree):
    return {call.args[0].value: keywords(call).get('default_value') for call in calls(tree, 'DeclareLaunchArgument')}


def constant_strings(node):
    return {item.value for item in ast.walk(node) if isinstance(item, ast.Constant) and isinstance(item.value, str)}


def test_main_launch_file_starts_rviz_only_when_asked_beside_the_node():
    tree = launch_tree('depthmaster.launch.py')
    arguments = declared_arguments(tree)
    assert arguments['rviz'].value == 'false'
    assert {'depthmaster.rviz', 'config'} <= constant_strings(arguments['rviz_config'])
    nodes = {ast.unparse(keywords(call)['executable']): keywords(call) for call in calls(tree, 'Node')}
    rviz, node = nodes.pop("'rviz2'"), nodes.pop('EXECUTABLE')
    assert not nodes
    assert ast.dump(rviz['condition']) == ast.dump(ast.parse("IfCondition(LaunchConfiguration('rviz'))").body[0].value)
    assert {'-d', 'rviz_config', '-f', 'rviz_fixed_frame', 'use_sim_time'} <= constant_strings(rviz['arguments']) | \
        constant_strings(rviz['parameters'])
    # same namespace and the very same remappings as the node, so relative names match
    for shared in ('namespace', 'remappings'):
        assert ast.dump(rviz[shared]) == ast.dump(node[shared]), shared
    assert isinstance(node['remappings'], ast.Name)


def test_camera_lidar_example_passes_rviz_through():
    tree = launch_tree('camera_lidar.launch.py')
    assert declared_arguments(tree)['rviz'].value == 'false'
    include, = calls(tree, 'IncludeLaunchDescription')
    assert {'rviz', 'rviz_fixed_frame'} <= constant_strings(keywords(include)['launch_arguments'])


def test_setup_installs_the_rviz_file_under_share_config():
    setup = ast.parse((ROOT / 'setup.py').read_text())
    assert 'config/*.rviz' in constant_strings(setup)
    assert RVIZ_FILE in set(ROOT.glob('config/*.rviz'))
