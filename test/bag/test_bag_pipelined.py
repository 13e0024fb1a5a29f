"""The bag tool's pipelined run (read ahead, forward, finish, writer) writes the bag a frame-by-frame run writes."""
import pytest

from depthmaster_ros.synthetic import sample_bag

from fixtures_bag import messages_without_timings, run


@pytest.fixture(scope='module')
def long_sample(tmp_path_factory):
    """A 12-frame sample with its /tf, clouds and ground truth: more frames than fit in flight."""
    path = tmp_path_factory.mktemp('pipelined_in') / 'sample.mcap'
    sample_bag.write_sample_bag(path, frames=12, rate_hz=10.0, width=96, height=72, seed=3)
    return path


@pytest.mark.parametrize('in_flight', [2, 3])
@pytest.mark.parametrize('output', ['out.mcap', 'out_dir'])        # out_dir: sqlite3, its writer bound to a thread
def test_pipelined_bag_equals_the_serial_bag_message_for_message(long_sample, tmp_path, tiny_estimator,
                                                                 bag_config, in_flight, output):
    storage = 'sqlite3' if output == 'out_dir' else None
    serial = tmp_path / f'serial_{output}'
    pipelined = tmp_path / f'pipelined_{output}'
    options = dict(copy_input=True, storage=storage)              # copied input messages keep their place too
    serial_summary = run(long_sample, serial, tiny_estimator, bag_config.replace(frames_in_flight=1), **options)
    summary = run(long_sample, pipelined, tiny_estimator, bag_config.replace(frames_in_flight=in_flight), **options)
    assert summary['frames'] == serial_summary['frames'] and summary['frames']['out'] == 12
    assert summary['alignment'] == serial_summary['alignment']
    expected, got = messages_without_timings(serial), messages_without_timings(pipelined)
    assert len(got) == len(expected) and got == expected
    relative = [log_ns for topic, _, log_ns, _ in got if topic.endswith('depth/relative')]
    assert len(relative) == 12 and relative == sorted(relative)

