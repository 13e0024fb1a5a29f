"""A recorded ring of two cameras in one pass: the bag tool's CLI and `batch` write every camera's outputs
under its namespace and the merged scan, stamped with the oldest contributing image."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from depthmaster_ros import cli as depthmaster_cli
from depthmaster_ros.bag import BagOptions, TopicSelectionError, count_frames, process_bag
from depthmaster_ros.config import Config
from depthmaster_ros.fleet import LocalExecutor, discover, run_batch
from depthmaster_ros.synthetic import sample_bag

from fixtures_bag import copy_bag, read_bag, stamp_ns, topic_types

pytestmark = pytest.mark.usefixtures('one_torch_thread')

FRAMES = 3
RING = {'cameras': ['camera', 'left'], 'scan_merge': True, 'publish_scan': True, 'publish_obstacles': True,
        'scan_angle_min': -np.pi, 'scan_angle_max': np.pi}


@pytest.fixture(scope='module')
def ring_bag(tmp_path_factory):
    path = tmp_path_factory.mktemp('ring_in') / 'ring.mcap'
    sample_bag.write_sample_bag(path, frames=FRAMES, width=96, height=72, seed=2, left_camera=True)
    return path


@pytest.fixture(scope='module')
def ring_params(tiny_model_dir):
    return {'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32', 'processing_res': 32,
            'alignment_mode': 'fixed', 'fixed_shift': 0.3, 'cloud_stride': 4, **RING}


def check_ring_outputs(out):
    """Each camera's depth and obstacles under its namespace in its own frame; one merged scan per step."""
    topics, messages = read_bag(out)
    images = {}
    for namespace, frame_id in (('/camera', sample_bag.CAMERA_FRAME), ('/left', sample_bag.LEFT_CAMERA_FRAME)):
        assert topics[f'{namespace}/depth/image'][1] == FRAMES
        assert topics[f'{namespace}/depth/obstacles'] == ('sensor_msgs/msg/PointCloud2', FRAMES)
        assert f'{namespace}/depth/scan' not in topics              # merged, not published on its own
        images[namespace] = [stamp_ns(m) for _, m in messages[f'{namespace}/depth/image']]
        for _, message in messages[f'{namespace}/depth/image'] + messages[f'{namespace}/depth/obstacles']:
            assert message.header.frame_id == frame_id
    assert topics['/depth/scan'] == ('sensor_msgs/msg/LaserScan', FRAMES)
    for (log_ns, scan), front, left in zip(messages['/depth/scan'], images['/camera'], images['/left']):
        assert left == front + sample_bag.LEFT_DELAY_NS
        assert scan.header.frame_id == 'base_link' and stamp_ns(scan) == front   # the oldest contributing image
        assert log_ns >= left + sample_bag.CAMERA_LATENCY_NS                       # written once both were seen
        angles = scan.angle_min + scan.angle_increment * np.arange(len(scan.ranges))
        seen = ~np.isnan(scan.ranges)
        for bearing in (0.0, sample_bag.LEFT_YAW_RAD):                # each camera's beams are in the one scan
            assert seen[np.abs(angles - bearing) < 0.2].all(), bearing
        assert not seen[np.abs(angles) > 2.8].any()                  # behind the robot no camera sees
    return topics


def test_cli_processes_every_camera_of_a_ring_in_one_pass(ring_bag, ring_params, tmp_path):
    out, summary_path = tmp_path / 'ring_out.mcap', tmp_path / 'summary.json'
    params = [item for name, value in ring_params.items()
              for item in ('-p', f'{name}={json.dumps(value) if isinstance(value, list) else value}')]
    result = subprocess.run([sys.executable, '-m', 'depthmaster_ros.cli', 'bag', str(ring_bag), str(out), *params,
                             '--summary', str(summary_path), '--no-progress'],
                            capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stderr
    assert 'camera camera (/camera/image_raw -> /camera)' in result.stdout
    check_ring_outputs(out)
    summary = json.loads(summary_path.read_text())
    assert summary['frames']['out'] == 2 * FRAMES
    for name, namespace in (('camera', '/camera'), ('left', '/left')):
        camera = summary['cameras'][name]
        assert camera['frames'] == {'in': FRAMES, 'selected': FRAMES, 'out': FRAMES, 'skipped': 0, 'skip_reasons': {}}
        assert camera['topics'] == {'image': f'{namespace}/image_raw', 'camera_info': f'{namespace}/camera_info',
                                    'gt': f'{namespace}/depth_gt'}
        assert camera['output_namespace'] == namespace
    assert summary['output_topics']['scan'] == '/depth/scan'
    assert summary['ground_truth']['frames'] == 2 * FRAMES


def test_batch_processes_the_ring_as_the_bag_tool_does(ring_bag, ring_params, tmp_path, tiny_estimator, capsys):
    config, options = Config.from_params(ring_params), BagOptions(progress=False)
    jobs = discover([str(ring_bag)], tmp_path / 'out')
    result = run_batch(jobs, tmp_path / 'out', config, options,
                       lambda hashes: LocalExecutor(config, options, hashes), progress=False)
    record = result.records['ring.mcap']
    assert record.status == 'done' and record.outcome.frames['out'] == 2 * FRAMES
    assert record.outcome.cameras == {name: {'in': FRAMES, 'selected': FRAMES, 'out': FRAMES}
                                      for name in ('camera', 'left')}
    check_ring_outputs(record.output)

    reference = tmp_path / 'reference.mcap'
    process_bag(ring_bag, reference, tiny_estimator, config, BagOptions(progress=False))
    assert read_bag(reference)[0] == read_bag(record.output)[0]

    # --namespace puts the ring's scan there and each camera under it
    argv = ['batch', str(ring_bag), '--out', str(tmp_path / 'named'), '--namespace', '/robot', '--no-progress',
            *(item for name, value in ring_params.items() for item in ('-p', f'{name}={json.dumps(value)}'))]
    assert depthmaster_cli.main(argv) == 0
    topics = read_bag(tmp_path / 'named' / 'ring.mcap')[0]
    assert {'/robot/depth/scan', '/robot/camera/depth/image', '/robot/left/depth/image'} <= set(topics)


def test_a_camera_the_bag_does_not_hold_is_named_before_the_model_loads(ring_bag, ring_params, tmp_path):
    loads = []
    config = Config.from_params({**ring_params, 'cameras': ['camera', 'right']})
    with pytest.raises(TopicSelectionError, match="camera 'right': no camera image topic in a namespace ending in"):
        process_bag(ring_bag, tmp_path / 'out.mcap', lambda: loads.append(1), config, BagOptions(progress=False))
    assert loads == []


def test_a_frame_one_camera_lost_leaves_a_step_of_the_others(ring_bag, ring_params, tmp_path, tiny_estimator):
    """The left camera's second image is missing: the front camera's next frame closes the step without it,
    and that step's merged scan is the front camera's alone, at its stamp."""
    types = topic_types(ring_bag)

    def drop_second_left_image(topic, index, raw, store):
        return [] if (topic, index) == (sample_bag.LEFT_IMAGE_TOPIC, 1) else [(topic, types[topic], raw)]

    lossy = tmp_path / 'lossy.mcap'
    copy_bag(ring_bag, lossy, drop_second_left_image)
    summary = process_bag(lossy, tmp_path / 'out.mcap', tiny_estimator, Config.from_params(ring_params),
                          BagOptions(progress=False)).as_json()
    assert summary['cameras']['camera']['frames']['out'] == FRAMES
    assert summary['cameras']['left']['frames']['in'] == summary['cameras']['left']['frames']['out'] == FRAMES - 1
    topics, messages = read_bag(tmp_path / 'out.mcap')
    front = [stamp_ns(m) for _, m in messages['/camera/depth/image']]
    scans = messages['/depth/scan']
    assert [stamp_ns(scan) for _, scan in scans] == front                 # one merged scan per step
    angles = scans[1][1].angle_min + scans[1][1].angle_increment * np.arange(len(scans[1][1].ranges))
    left_beams = np.abs(angles - sample_bag.LEFT_YAW_RAD) < 0.2
    assert np.isnan(scans[1][1].ranges[left_beams]).all()                 # the step without the left camera
    assert not np.isnan(scans[0][1].ranges[left_beams]).any()


def test_the_frame_count_before_the_model_loads_is_the_bag_tools_for_a_ring_a_window_and_every(ring_bag):
    # (what the batch's progress bar totals: fleet asks bag.count_frames)
    ring = ('camera', 'left')
    assert count_frames(ring_bag, BagOptions(progress=False), ring) == 2 * FRAMES
    assert count_frames(ring_bag, BagOptions(progress=False), ('left',)) == FRAMES
    assert count_frames(ring_bag, BagOptions(progress=False, every=2), ring) == 2 * 2      # ceil(3 / 2) per camera
    # a window over the first part of the bag counts fewer frames, never none for a camera it covers
    windowed = count_frames(ring_bag, BagOptions(progress=False, duration_s=0.08), ring)     # 10 Hz: 0.2 s of images
    assert 2 <= windowed < 2 * FRAMES
