"""Fixtures for the batch tests: small sample bags, a corrupt one, and a message-level bag comparison."""
import dataclasses

import pytest

from depthmaster_ros.synthetic import write_sample_bag

WIDTH, HEIGHT = 64, 48
# Measured wall times inside DepthAlignment: they differ between any two runs, batch or not.
TIMING_FIELDS = ('inference_time_s', 'alignment_time_s')


@pytest.fixture(scope='module')
def make_bags(tmp_path_factory):
    """make_bags({'name.mcap': frames, 'dir_bag': frames, ...}) -> the input directory (plus corrupt.mcap)."""
    def make(frames_by_name, corrupt=True):
        root = tmp_path_factory.mktemp('fleet_in')
        for seed, (name, frames) in enumerate(sorted(frames_by_name.items())):
            storage = None if '.' in name else 'sqlite3'
            write_sample_bag(root / name, frames=frames, width=WIDTH, height=HEIGHT, seed=seed + 1, storage=storage)
        if corrupt:
            (root / 'corrupt.mcap').write_bytes(b'\x89MCAP0\r\n' + bytes(range(256)) * 8)
        return root
    return make


@pytest.fixture(scope='session')
def bag_messages():
    """bag_messages(path) -> [(topic, msgtype, log_ns, raw CDR bytes)] in log order, timing fields zeroed."""
    from rosbags.rosbag2 import Reader

    from depthmaster_ros.bag import ALIGNMENT_TYPE, typestore
    store = typestore()

    def read(path):
        messages = []
        with Reader(path) as reader:
            for connection, log_ns, raw in reader.messages():
                raw = bytes(raw)
                if connection.msgtype == ALIGNMENT_TYPE:
                    message = store.deserialize_cdr(raw, ALIGNMENT_TYPE)
                    message = dataclasses.replace(message, **{name: 0.0 for name in TIMING_FIELDS})
                    raw = bytes(store.serialize_cdr(message, ALIGNMENT_TYPE))
                messages.append((connection.topic, connection.msgtype, log_ns, raw))
        return messages
    return read
