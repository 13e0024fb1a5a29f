"""AlignmentRecord and msg/DepthAlignment stay in step, and alignment_msg survives both serialisers."""
import dataclasses
import math

import numpy as np
import pytest

from depthmaster_ros.alignment import AlignmentRecord, message_fields
from depthmaster_ros.bag import messages as rb

STAMP_NS = 1_650_000_000_250_000_000
# .msg primitive -> the Python type the record must use for it.
MSG_TO_PYTHON = {'string': str, 'bool': bool, 'boolean': bool, 'float64': float, 'double': float, 'float32': float,
                 'float': float, 'uint32': int}
FLOAT32_FIELDS = {'rmse_m', 'fit_age_s', 'inference_time_s', 'alignment_time_s'}


def _record_types():
    named = {'str': str, 'bool': bool, 'float': float, 'int': int}     # string annotations, if ever used
    return {f.name: named.get(f.type, f.type) for f in message_fields()}


def _msg_file_fields():
    fields = {}
    for line in rb.alignment_msg_path().read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line:
            kind, name = line.split()[:2]
            fields[name] = kind
    return fields


def test_record_fields_are_the_message_fields_minus_header():
    from depthmaster_interfaces.msg import DepthAlignment

    msg_fields = _msg_file_fields()
    assert msg_fields.pop('header') == 'std_msgs/Header'
    record_types = _record_types()
    assert list(record_types) == list(msg_fields)
    assert {name: MSG_TO_PYTHON[kind] for name, kind in msg_fields.items()} == record_types
    rclpy_fields = DepthAlignment.get_fields_and_field_types()
    assert rclpy_fields.pop('header') == 'std_msgs/Header'
    assert {name: MSG_TO_PYTHON[kind] for name, kind in rclpy_fields.items()} == record_types
    assert {name for name, kind in rclpy_fields.items() if kind == 'float'} == FLOAT32_FIELDS
    rosbags_fields = [name for name, _ in rb.typestore().fielddefs[rb.ALIGNMENT_TYPE][1]]
    assert rosbags_fields == ['header'] + list(record_types)


def _record():
    return AlignmentRecord(mode='lidar', space='sqrt_disparity', backend='depthmaster', model='tiny/model',
                           ok=True, held=False, reason='', scale=1.2345678901234, shift=-0.5, num_points=4321,
                           num_inliers=4000, rmse_m=0.0375, fit_age_s=0.1, inference_time_s=0.25,
                           alignment_time_s=float('nan'))


def _assert_matches(msg, record):
    for name, value in record.as_dict().items():
        got = getattr(msg, name)
        if isinstance(value, float):
            expected = float(np.float32(value)) if name in FLOAT32_FIELDS else value
            assert (math.isnan(got) and math.isnan(expected)) or got == expected, name
        else:
            assert got == value, name


def test_alignment_msg_round_trips_through_rclpy_serialisation():
    from depthmaster_interfaces.msg import DepthAlignment
    from rclpy.serialization import deserialize_message, serialize_message

    from depthmaster_ros.ros import messages

    record = _record()
    msg = messages.alignment_msg(record, messages.header_msg(STAMP_NS, 'camera_optical'))
    back = deserialize_message(serialize_message(msg), DepthAlignment)
    assert messages.stamp_to_ns(back.header.stamp) == STAMP_NS and back.header.frame_id == 'camera_optical'
    _assert_matches(back, record)


def test_alignment_msg_round_trips_through_rosbags_and_crosses_to_rclpy():
    from depthmaster_interfaces.msg import DepthAlignment
    from rclpy.serialization import deserialize_message

    record = _record()
    store = rb.typestore()
    raw = bytes(store.serialize_cdr(rb.alignment_msg(record, rb.header(STAMP_NS, 'cam')), rb.ALIGNMENT_TYPE))
    back = store.deserialize_cdr(raw, rb.ALIGNMENT_TYPE)
    assert rb.stamp_to_ns(back.header.stamp) == STAMP_NS
    _assert_matches(back, record)
    _assert_matches(deserialize_message(raw, DepthAlignment), record)


def test_rosbags_type_hash_matches_the_generated_interface():
    """Bags we write must carry the type hash rclpy publishes with (ros2 bag play checks it)."""
    import json
    from pathlib import Path

    import depthmaster_interfaces
    # rosidl installs the type description in <prefix>/share/<package>/msg; the module is in
    # <prefix>/lib/pythonX.Y/site-packages/<package>.
    prefix = Path(depthmaster_interfaces.__file__).resolve().parents[4]
    description = prefix / 'share' / 'depthmaster_interfaces' / 'msg' / 'DepthAlignment.json'
    if not description.is_file():
        pytest.skip(f'no generated type description at {description}')
    rihs = json.loads(description.read_text())['type_hashes'][0]['hash_string']
    assert rb.typestore().hash_rihs01(rb.ALIGNMENT_TYPE) == rihs


@pytest.mark.parametrize('changes, message', [
    (dict(num_points=-1), r'DepthAlignment.num_points \(-1\) must be >= 0'),
    (dict(num_inliers=2**32), r'DepthAlignment.num_inliers \(4294967296\) does not fit uint32'),
    (dict(mode=None), r'DepthAlignment.mode must be a string'),
    (dict(rmse_m=1e40), r'DepthAlignment.rmse_m \(1e\+40\) does not fit float32'),
    (dict(scale='big'), r'DepthAlignment.scale must be a number'),
])
def test_alignment_msg_rejects_values_the_message_cannot_hold(changes, message):
    from depthmaster_ros.ros import messages

    record = dataclasses.replace(_record(), **changes)
    with pytest.raises(ValueError, match=message):
        messages.alignment_msg(record, messages.header_msg(0, ''))
    with pytest.raises(ValueError, match=message):
        rb.alignment_msg(record, rb.header(0, ''))
