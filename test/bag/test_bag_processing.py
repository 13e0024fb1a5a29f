"""`process_bag` in-process: outputs, stamps, equality with DepthPipeline, frame selection, inputs, faults."""
import dataclasses

import numpy as np
import pytest
from rosbags.interfaces import QosDurability, QosReliability
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from depthmaster_ros.bag import BagOptions, BagRefused, InputBag, TopicSelectionError, process_bag
from depthmaster_ros.bag import messages as rosbag_messages
from depthmaster_ros.conversions import encode_compressed, image_to_numpy
from depthmaster_ros.geometry import RigidTransform, StampedCloud, TransformBuffer
from depthmaster_ros.pipeline import DepthPipeline, FrameInput
from depthmaster_ros.synthetic import SyntheticScene, sample_bag

from fixtures_bag import FRAMES, HEIGHT, NS, RATE, WIDTH, copy_bag, offered_qos, read_bag, run, stamp_ns, topic_types

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def processed(sample_bag_file, tmp_path_factory, tiny_estimator, bag_config):
    out = tmp_path_factory.mktemp('bag_out') / 'out.mcap'
    summary = run(sample_bag_file, out, tiny_estimator, bag_config, copy_input=True)
    return out, summary


def test_output_topics_counts_stamps_and_encodings(sample_bag_file, processed):
    out, summary = processed
    _, inputs = read_bag(sample_bag_file)
    topics, outputs = read_bag(out)
    images = inputs[sample_bag.IMAGE_TOPIC]
    records = [m for _, m in outputs[f'{NS}/depth/alignment']]
    assert topics[f'{NS}/depth/alignment'] == ('depthmaster_interfaces/msg/DepthAlignment', FRAMES)
    assert topics[f'{NS}/depth/relative'] == ('sensor_msgs/msg/Image', FRAMES)
    assert topics[f'{NS}/depth/camera_info'] == ('sensor_msgs/msg/CameraInfo', FRAMES)
    ok = sum(r.ok for r in records)
    assert topics.get(f'{NS}/depth/image', (None, 0))[1] == ok
    assert summary['frames'] == {'in': FRAMES, 'selected': FRAMES, 'out': FRAMES, 'skipped': 0, 'skip_reasons': {}}
    # copied inputs keep their counts and QoS; /tf_static is offered transient-local
    for topic in (sample_bag.IMAGE_TOPIC, sample_bag.POINTS_TOPIC, sample_bag.GT_TOPIC, '/tf_static', '/tf'):
        assert topics[topic][1] == len(inputs[topic])
    in_qos, out_qos = offered_qos(sample_bag_file), offered_qos(out)
    assert out_qos[sample_bag.IMAGE_TOPIC] == in_qos[sample_bag.IMAGE_TOPIC]
    assert [q.durability for q in out_qos['/tf_static']] == [QosDurability.TRANSIENT_LOCAL]
    assert [q.reliability for q in out_qos[f'{NS}/depth/image' if ok else f'{NS}/depth/relative']] == \
        [QosReliability.RELIABLE]                           # output_reliability default
    expected = [(log_ns, stamp_ns(m)) for log_ns, m in images]
    for role in ('depth/alignment', 'depth/relative', 'depth/camera_info'):
        got = [(log_ns, stamp_ns(m)) for log_ns, m in outputs[f'{NS}/{role}']]
        assert got == expected, role
    for _, message in outputs[f'{NS}/depth/relative'] + outputs.get(f'{NS}/depth/image', []):
        assert message.encoding == '32FC1' and message.header.frame_id == sample_bag.CAMERA_FRAME
        assert (message.width, message.height) == (WIDTH, HEIGHT)
    for record in records:
        assert record.mode == 'lidar' and record.space == 'sqrt_disparity' and record.backend == 'depthmaster'


def _reference_outputs(estimator, config):
    """The same frames through a fresh DepthPipeline, built straight from the scene generator."""
    scene = SyntheticScene(width=WIDTH, height=HEIGHT, seed=1, start_stamp_ns=sample_bag.START_STAMP_NS)
    buffer = TransformBuffer()
    for parent, child, transform in ((sample_bag.BASE_FRAME, sample_bag.CAMERA_FRAME, scene.camera_to_base),
                                     (sample_bag.BASE_FRAME, sample_bag.LIDAR_FRAME, scene.lidar_to_base)):
        t, q = transform.to_translation_quaternion()    # as the bag carries it
        buffer.set_transform(parent, child, RigidTransform.from_translation_quaternion(t, q), static=True)
    pipeline = DepthPipeline(estimator, config)
    outputs = []
    for frame in scene.frames(RATE, FRAMES / RATE):
        cloud = StampedCloud(points=frame.lidar_points, frame_id=sample_bag.LIDAR_FRAME, stamp_ns=frame.stamp_ns)
        outputs.append(pipeline.process(FrameInput(rgb=frame.rgb, stamp_ns=frame.stamp_ns,
                                                   frame_id=sample_bag.CAMERA_FRAME, camera=frame.camera,
                                                   cloud=cloud, transforms=buffer)))
    return outputs


def test_input_types_come_from_the_bag_definitions(processed):
    out, _ = processed
    plain_kilted = get_typestore(Stores.ROS2_KILTED)          # knows nothing of DepthAlignment
    assert 'depthmaster_interfaces/msg/DepthAlignment' not in plain_kilted.types
    with InputBag(out, plain_kilted) as bag:
        record = bag.first_message(f'{NS}/depth/alignment')
        image = bag.first_message(sample_bag.IMAGE_TOPIC)
    assert record.__msgtype__ == 'depthmaster_interfaces/msg/DepthAlignment' and record.mode == 'lidar'
    assert image.encoding == 'rgb8'


def test_depth_equals_what_depth_pipeline_computes(processed, tiny_estimator, bag_config):
    out, _ = processed
    _, outputs = read_bag(out)
    reference = _reference_outputs(tiny_estimator, bag_config)
    relatives = [image_to_numpy(m) for _, m in outputs[f'{NS}/depth/relative']]
    records = [m for _, m in outputs[f'{NS}/depth/alignment']]
    depths = {stamp_ns(m): image_to_numpy(m) for _, m in outputs.get(f'{NS}/depth/image', [])}
    assert len(reference) == len(relatives) == FRAMES
    for expected, relative, record in zip(reference, relatives, records):
        np.testing.assert_array_equal(relative, expected.relative)
        assert record.ok == expected.record.ok and record.reason == expected.record.reason
        assert record.num_points == expected.record.num_points > 0      # the LiDAR cloud was paired and projected
        if expected.depth_m is None:
            assert stamp_ns(record) not in depths
        else:
            np.testing.assert_array_equal(depths[stamp_ns(record)], expected.depth_m)
            assert record.scale == expected.record.scale and record.shift == expected.record.shift


def test_fixed_mode_writes_depth_points_and_ground_truth_metrics(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    fixed = bag_config.replace(alignment_mode='fixed', fixed_scale=1.0, fixed_shift=0.3)
    out = tmp_path / 'fixed.mcap'
    summary = run(sample_bag_file, out, tiny_estimator, fixed)
    topics, outputs = read_bag(out)
    _, inputs = read_bag(sample_bag_file)
    assert topics[f'{NS}/depth/image'][1] == FRAMES
    assert topics[f'{NS}/depth/points'] == ('sensor_msgs/msg/PointCloud2', FRAMES)
    assert sample_bag.IMAGE_TOPIC not in topics            # no --copy-input
    assert {'/tf_static', '/tf'} <= set(topics)             # transforms are always carried
    gts = {stamp_ns(m): image_to_numpy(m) for _, m in inputs[sample_bag.GT_TOPIC]}
    abs_rel = []
    for _, message in outputs[f'{NS}/depth/image']:
        depth, gt = image_to_numpy(message).astype(float), gts[stamp_ns(message)]
        valid = np.isfinite(depth) & np.isfinite(gt) & (depth > 0) & (gt >= fixed.alignment.min_depth)
        abs_rel.append(np.mean(np.abs(depth[valid] - gt[valid]) / gt[valid]))
    assert summary['ground_truth']['frames'] == FRAMES
    assert summary['ground_truth']['abs_rel'] == pytest.approx(np.mean(abs_rel), rel=1e-6)
    reference = _reference_outputs(tiny_estimator, fixed)
    points = [m for _, m in outputs[f'{NS}/depth/points']]
    for expected, (_, message), cloud in zip(reference, outputs[f'{NS}/depth/image'], points):
        np.testing.assert_array_equal(image_to_numpy(message), expected.depth_m)
        assert cloud.width * cloud.height == len(expected.points)
    assert summary['alignment']['ok_ratio'] == 1.0
    assert summary['alignment']['scale']['median'] == 1.0


@pytest.mark.parametrize('start_s, duration_s, every', [(0.0, None, 2), (0.15, 0.25, 1), (0.15, None, 2)])
def test_start_duration_every_select_the_right_frames(sample_bag_file, tmp_path, tiny_estimator, bag_config,
                                                      start_s, duration_s, every):
    quick = bag_config.replace(alignment_mode='none')
    out = tmp_path / 'window.mcap'
    summary = run(sample_bag_file, out, tiny_estimator, quick, start_s=start_s, duration_s=duration_s, every=every)
    with Reader(sample_bag_file) as reader:
        bag_start = reader.start_time
    _, inputs = read_bag(sample_bag_file)
    in_window = [(log_ns, stamp_ns(m)) for log_ns, m in inputs[sample_bag.IMAGE_TOPIC]
                 if log_ns - bag_start >= start_s * 1e9
                 and (duration_s is None or log_ns - bag_start < (start_s + duration_s) * 1e9)]
    expected = in_window[::every]
    _, outputs = read_bag(out)
    got = [(log_ns, stamp_ns(m)) for log_ns, m in outputs[f'{NS}/depth/alignment']]
    assert got == expected and 0 < len(expected) < FRAMES
    assert summary['frames']['in'] == len(in_window) and summary['frames']['out'] == len(expected)


def test_a_late_window_still_gets_the_static_transforms_and_calibration(tmp_path, tiny_estimator, bag_config):
    slow = tmp_path / 'slow.mcap'       # 2 Hz: the window starts well after /tf_static and the first CameraInfo
    sample_bag.write_sample_bag(slow, frames=4, rate_hz=2.0, width=WIDTH, height=HEIGHT, seed=1)
    out = tmp_path / 'late.mcap'
    summary = run(slow, out, tiny_estimator, bag_config, start_s=1.3)
    topics, outputs = read_bag(out)
    assert topics['/tf_static'][1] == 1 and topics['/tf'][1] == 1
    assert summary['frames']['out'] == 1 and summary['faults'] == {}
    (_, record), = outputs[f'{NS}/depth/alignment']
    assert record.num_points > 0                        # LiDAR -> camera through the preloaded /tf_static


def test_existing_output_needs_force(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    out = tmp_path / 'exists.mcap'
    out.write_bytes(b'keep me')
    quick = bag_config.replace(alignment_mode='none')
    with pytest.raises(ValueError, match='exists'):
        run(sample_bag_file, out, tiny_estimator, quick, duration_s=0.1)
    assert out.read_bytes() == b'keep me'
    run(sample_bag_file, out, tiny_estimator, quick, duration_s=0.1, force=True)
    topics, _ = read_bag(out)
    assert topics[f'{NS}/depth/alignment'][1] == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]   # no partial left behind


@pytest.mark.parametrize('layout', ['sqlite3-directory', 'sqlite3-file', 'mcap-directory'])
def test_sqlite3_and_mcap_inputs_and_outputs(tmp_path, tiny_estimator, bag_config, layout):
    storage, kind = layout.split('-')
    path = tmp_path / ('in.db3' if kind == 'file' else 'in_bag')
    sample_bag.write_sample_bag(path, frames=2, rate_hz=RATE, width=WIDTH, height=HEIGHT, seed=1, storage=storage)
    out = tmp_path / 'out_bag'
    summary = run(path, out, tiny_estimator, bag_config.replace(alignment_mode='none'), storage=storage)
    assert (out / 'metadata.yaml').is_file() and summary['storage'] == storage
    topics, _ = read_bag(out)
    assert topics[f'{NS}/depth/relative'][1] == 2


@pytest.mark.parametrize('lie', ['undecodable CDR', 'data shorter than step * height'])
def test_a_record_that_lies_refuses_the_bag_and_writes_nothing(sample_bag_file, tmp_path, tiny_estimator, bag_config,
                                                              lie):
    """Damaged content is skipped (test_reliability_bag.py); a record that contradicts itself refuses the bag."""
    read_types = topic_types(sample_bag_file)
    def corrupt(topic, index, raw, store):
        msgtype = read_types[topic]
        if topic == sample_bag.IMAGE_TOPIC and index == 3:
            if lie == 'undecodable CDR':
                return [(topic, msgtype, raw[:40])]
            message = dataclasses.replace(store.deserialize_cdr(raw, msgtype), data=np.zeros(100, np.uint8))
            return [(topic, msgtype, store.serialize_cdr(message, msgtype))]
        return [(topic, msgtype, raw)]

    broken = tmp_path / 'broken'
    copy_bag(sample_bag_file, broken, corrupt)
    out = tmp_path / 'out.mcap'
    with pytest.raises(BagRefused) as refused:
        run(broken, out, tiny_estimator, bag_config.replace(alignment_mode='none'))
    text = str(refused.value)
    assert str(broken) in text and sample_bag.IMAGE_TOPIC in text and 'record logged at' in text
    assert ('do not decode as sensor_msgs/msg/Image' if lie == 'undecodable CDR' else 'Image.data has 100 bytes') in text
    assert not out.exists() and not list(tmp_path.glob('.out.mcap.partial-*'))


def test_compressed_input_gives_the_raw_result(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    read_types = topic_types(sample_bag_file)

    def compress(topic, index, raw, store):
        if topic != sample_bag.IMAGE_TOPIC:
            return [(topic, read_types[topic], raw)]
        image = store.deserialize_cdr(raw, 'sensor_msgs/msg/Image')
        fmt, data = encode_compressed(image_to_numpy(image), 'png')       # lossless: same pixels
        message = rosbag_messages.compressed_image_msg(fmt, data, image.header)
        return [('/camera/image_raw/compressed', message.__msgtype__, store.serialize_cdr(message, message.__msgtype__))]

    compressed = tmp_path / 'compressed'
    copy_bag(sample_bag_file, compressed, compress)
    quick = bag_config.replace(alignment_mode='none')
    raw_out, compressed_out = tmp_path / 'raw.mcap', tmp_path / 'compressed.mcap'
    run(sample_bag_file, raw_out, tiny_estimator, quick, duration_s=0.2)
    summary = run(compressed, compressed_out, tiny_estimator, quick, duration_s=0.2)
    assert summary['topics']['image'] == '/camera/image_raw/compressed'
    raw = [image_to_numpy(m) for _, m in read_bag(raw_out)[1][f'{NS}/depth/relative']]
    got = [image_to_numpy(m) for _, m in read_bag(compressed_out)[1][f'{NS}/depth/relative']]
    assert len(got) == len(raw) == 2
    for a, b in zip(raw, got):
        np.testing.assert_array_equal(a, b)


def test_ambiguous_image_topics_list_what_was_found_before_loading_the_model(sample_bag_file, tmp_path, bag_config):
    read_types = topic_types(sample_bag_file)

    def duplicate(topic, index, raw, store):
        copies = [(topic, read_types[topic], raw)]
        if topic == sample_bag.IMAGE_TOPIC:
            copies.append(('/camera2/image_raw', read_types[topic], raw))
        return copies

    two_cameras = tmp_path / 'two_cameras'
    copy_bag(sample_bag_file, two_cameras, duplicate)
    loads = []
    with pytest.raises(TopicSelectionError) as error:
        run(two_cameras, tmp_path / 'out.mcap', lambda: loads.append(1), bag_config)
    message = str(error.value)
    assert '/camera/image_raw' in message and '/camera2/image_raw' in message and '--image-topic' in message
    assert f'sensor_msgs/msg/PointCloud2  {FRAMES}' in message          # the full listing: type and count
    assert loads == [] and not (tmp_path / 'out.mcap').exists()


def test_stop_request_closes_a_readable_bag(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    out = tmp_path / 'stopped.mcap'
    summary = run(sample_bag_file, out, tiny_estimator, bag_config.replace(alignment_mode='none'))
    assert summary['interrupted'] is False       # sanity: it runs through without a stop request
    written = []                                 # polled after each written frame, as a frame-by-frame run does
    summary = process_bag(sample_bag_file, out, tiny_estimator, bag_config.replace(alignment_mode='none'),
                          BagOptions(progress=False, force=True, frame_done=lambda: written.append(1)),
                          stop_requested=lambda: len(written) >= 2)
    assert summary.interrupted is True and summary.frames.out == 2
    topics, _ = read_bag(out)
    assert topics[f'{NS}/depth/relative'][1] == 2


def test_bad_options_name_the_flag(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    for options, flag in ((dict(every=0), '--every'), (dict(start_s=-1.0), '--start'),
                          (dict(duration_s=0.0), '--duration'), (dict(storage='rosbag1'), '--storage')):
        with pytest.raises(ValueError, match=flag):
            run(sample_bag_file, tmp_path / 'x.mcap', tiny_estimator, bag_config, **options)
    with pytest.raises(ValueError, match='--storage sqlite3'):
        run(sample_bag_file, tmp_path / 'x.mcap', tiny_estimator, bag_config, storage='sqlite3')
    with pytest.raises(ValueError, match='IN'):
        run(tmp_path / 'missing.mcap', tmp_path / 'x.mcap', tiny_estimator, bag_config)


def test_frame_warnings_are_summarised_by_their_kind(sample_bag_file, tmp_path, tiny_estimator, bag_config):
    summary = run(sample_bag_file, tmp_path / 'no_points.mcap', tiny_estimator, bag_config, use_points=False,
                  duration_s=0.25)
    assert summary['frames']['out'] == 3 and summary['topics']['points'] is None
    assert summary['warnings'] == {'alignment': 3}          # lidar mode without clouds: no fit on any frame
    assert summary['alignment']['ok_ratio'] == 0.0
