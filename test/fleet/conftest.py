"""Fixtures for the batch tests: small sample bags, a corrupt one, and a message-level bag comparison."""
import pytest

from depthmaster_ros.synthetic import write_sample_bag

from fixtures_bag import messages_without_timings

WIDTH, HEIGHT = 64, 48


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
    return messages_without_timings
