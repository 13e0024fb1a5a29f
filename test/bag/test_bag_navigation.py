"""The bag tool writes depth/scan and depth/obstacles by the node's rule: with the metres, in their frames."""
import numpy as np
import pytest

from fixtures_bag import FRAMES, NS, read_bag, run, stamp_ns

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_navigation_outputs_are_written_with_every_metric_frame(sample_bag_file, tmp_path, tiny_estimator,
                                                                 fixed_bag_config):
    config = fixed_bag_config.replace(publish_scan=True, publish_obstacles=True)
    out = tmp_path / 'nav.mcap'
    run(sample_bag_file, out, tiny_estimator, config)
    topics, messages = read_bag(out)
    assert topics[f'{NS}/depth/scan'] == ('sensor_msgs/msg/LaserScan', FRAMES)
    assert topics[f'{NS}/depth/obstacles'] == ('sensor_msgs/msg/PointCloud2', FRAMES)
    depth = {stamp_ns(m): m.header.frame_id for _, m in messages[f'{NS}/depth/image']}
    for _, scan in messages[f'{NS}/depth/scan']:
        assert scan.header.frame_id == 'base_link' and stamp_ns(scan) in depth
        assert scan.ranges.dtype == np.float32 and len(scan.ranges) > 100
        assert not np.isnan(scan.ranges).all()
    for _, cloud in messages[f'{NS}/depth/obstacles']:
        assert cloud.header.frame_id == depth[stamp_ns(cloud)] and cloud.point_step == 12


def test_switched_off_by_default(sample_bag_file, tmp_path, tiny_estimator, fixed_bag_config):
    out = tmp_path / 'plain.mcap'
    run(sample_bag_file, out, tiny_estimator, fixed_bag_config)
    topics, _ = read_bag(out)
    assert f'{NS}/depth/scan' not in topics and f'{NS}/depth/obstacles' not in topics
