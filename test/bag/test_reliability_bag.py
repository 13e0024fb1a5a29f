"""The bag tool meets broken recordings: every kind of corrupt image, camera_info, cloud and /tf
message is skipped or counted with its reason, the run never stops, and good frames still come out.
(Records that lie, such as undecodable CDR, sizes past the data or above max_pixels, refuse the whole bag:
test_bag_processing.py and test_hostile_bags.py.)"""
import dataclasses

import numpy as np
import pytest

from depthmaster_ros.bag import messages as rosbag_messages
from depthmaster_ros.conversions import encode_compressed, image_to_numpy
from depthmaster_ros.synthetic import sample_bag

from fixtures_bag import FRAMES, NS, copy_bag, read_bag, run, stamp_ns, topic_types

COMPRESSED_TOPIC = '/camera/image_raw/compressed'

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _edited(store, raw, msgtype, **changes):
    message = dataclasses.replace(store.deserialize_cdr(raw, msgtype), **changes)
    return store.serialize_cdr(message, msgtype)


def test_broken_images_calibration_clouds_and_tf_are_counted_and_never_stop_the_run(
        sample_bag_file, tmp_path, tiny_estimator, bag_config):
    read_types = topic_types(sample_bag_file)

    def corrupt(topic, index, raw, store):
        msgtype = read_types[topic]
        if topic == sample_bag.IMAGE_TOPIC and index == 2:
            raw = _edited(store, raw, msgtype, encoding='yuv_of_my_own')
        elif topic == sample_bag.IMAGE_TOPIC and index == 4:
            raw = _edited(store, raw, msgtype, width=0, height=0, step=0, data=np.zeros(0, np.uint8))
        elif topic == sample_bag.CAMERA_INFO_TOPIC and index >= 3:
            raw = _edited(store, raw, msgtype, k=np.zeros(9))            # all-zero K from frame 3 on
        elif topic == sample_bag.POINTS_TOPIC and index == 3:
            message = store.deserialize_cdr(raw, msgtype)
            renamed = [dataclasses.replace(field, name=f'{field.name}_renamed') for field in message.fields]
            raw = store.serialize_cdr(dataclasses.replace(message, fields=renamed), msgtype)  # no x/y/z
        elif topic == '/tf' and index == 0:
            message = store.deserialize_cdr(raw, msgtype)
            stamped = message.transforms[0]
            rotation = dataclasses.replace(stamped.transform.rotation, x=float('nan'))
            stamped = dataclasses.replace(stamped, transform=dataclasses.replace(stamped.transform, rotation=rotation))
            raw = store.serialize_cdr(dataclasses.replace(message, transforms=[stamped]), msgtype)
        return [(topic, msgtype, raw)]

    broken = tmp_path / 'broken'
    copy_bag(sample_bag_file, broken, corrupt)
    out = tmp_path / 'out.mcap'
    summary = run(broken, out, tiny_estimator, bag_config.replace(alignment_mode='lidar'))

    frames = summary['frames']
    assert frames['in'] == FRAMES and frames['skipped'] == 2 and frames['out'] == FRAMES - 2
    conversion = frames['skip_reasons']['image']
    assert conversion['count'] == 2 and 'at least one pixel' in conversion['last_message']
    faults = summary['faults']
    assert faults['camera_info']['count'] >= 1 and 'k' in faults['camera_info']['last_message'].lower()
    assert faults['points']['count'] == 1 and "'x'" in faults['points']['last_message']
    assert faults['tf']['count'] == 1

    _, outputs = read_bag(out)
    _, inputs = read_bag(sample_bag_file)
    good = [stamp_ns(m) for i, (_, m) in enumerate(inputs[sample_bag.IMAGE_TOPIC]) if i not in (2, 4)]
    assert [stamp_ns(m) for _, m in outputs[f'{NS}/depth/relative']] == good
    last = [m for _, m in outputs[f'{NS}/depth/alignment'] if stamp_ns(m) == good[-1]]
    assert len(last) == 1 and not last[0].ok and 'camera matrix must be finite and non-zero' in last[0].reason  # all-zero K
    assert good[-1] not in [stamp_ns(m) for _, m in outputs.get(f'{NS}/depth/image', [])]
    for _, message in outputs.get(f'{NS}/depth/image', []):
        depth = image_to_numpy(message)
        assert not np.isinf(depth).any()
        assert np.all(depth[np.isfinite(depth)] >= bag_config.alignment.min_depth)


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'empty', 'unknown format'])
def test_corrupt_compressed_frames_are_skipped_and_counted(sample_bag_file, tmp_path, tiny_estimator, bag_config, damage):
    read_types = topic_types(sample_bag_file)

    def compress(topic, index, raw, store):
        if topic != sample_bag.IMAGE_TOPIC:
            return [(topic, read_types[topic], raw)]
        image = store.deserialize_cdr(raw, read_types[topic])
        fmt, data = encode_compressed(image_to_numpy(image), 'jpeg')
        if index == 1:
            data = {'garbage': b'\xff\xd8\xff' + bytes(range(256)) * 3, 'truncated': data[:len(data) // 4],
                    'empty': b'', 'unknown format': data}[damage]
            fmt = 'rgb8; webp compressed bgr8' if damage == 'unknown format' else fmt
        message = rosbag_messages.compressed_image_msg(fmt, data, image.header)
        return [(COMPRESSED_TOPIC, message.__msgtype__, store.serialize_cdr(message, message.__msgtype__))]

    compressed = tmp_path / 'compressed'
    copy_bag(sample_bag_file, compressed, compress)
    out = tmp_path / 'out.mcap'
    summary = run(compressed, out, tiny_estimator, bag_config.replace(alignment_mode='none'), duration_s=0.25)
    frames = summary['frames']
    assert frames['in'] == 3 and frames['out'] == 2 and frames['skipped'] == 1
    assert 'CompressedImage' in frames['skip_reasons']['image']['last_message']
    assert len(read_bag(out)[1][f'{NS}/depth/relative']) == 2
