"""Output compression and what a bag holds by default, checked with an independent reader.

The `mcap` library and its ROS 2 decoder (not rosbags, which wrote the bag) read every chunk and
message back: compressed bags decode to the same messages as an uncompressed one.
"""
import argparse
import math

from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
import pytest
from rosbags.rosbag2 import Reader

from depthmaster_ros.bag import BagOptions, format_summary, output_compression, process_bag
from depthmaster_ros.commands import bag as bag_command
from depthmaster_ros.synthetic import sample_bag

from fixtures_bag import module_sample, run

FRAMES, WIDTH, HEIGHT = 4, 64, 48
NS = '/camera'
TIMING_FIELDS = ('inference_time_s', 'alignment_time_s')     # DepthAlignment fields that differ run to run

sample = module_sample(FRAMES, seed=3, width=WIDTH, height=HEIGHT)


@pytest.fixture(scope='module')
def config(fixed_bag_config):
    return fixed_bag_config


def mcap_listing(path):
    """(chunk compressions, {topic: count}, {topic: [decoded fields in log order]}) read by the mcap library."""
    with open(path, 'rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        compressions = {chunk.compression for chunk in summary.chunk_indexes}
        counts = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
        decoded = {}
        for _, channel, message, ros_message in reader.iter_decoded_messages(log_time_order=True):
            decoded.setdefault(channel.topic, []).append((message.log_time, comparable(ros_message)))
    return compressions, counts, decoded


def comparable(ros_message):
    """A decoded message as plain values (timing fields left out), so two bags can be compared."""
    if isinstance(ros_message, (list, tuple)):
        return [comparable(item) for item in ros_message]
    if hasattr(ros_message, '__slots__'):
        return {name: comparable(getattr(ros_message, name)) for name in ros_message.__slots__
                if name not in TIMING_FIELDS}
    if isinstance(ros_message, float) and math.isnan(ros_message):
        return 'nan'
    return bytes(ros_message) if isinstance(ros_message, (bytes, bytearray, memoryview)) else ros_message


def rosbags_messages(path):
    with Reader(path) as reader:
        return {(c.topic, t, bytes(raw)) for c, t, raw in reader.messages() if not c.topic.endswith('alignment')}


@pytest.fixture(scope='module')
def uncompressed(sample, tmp_path_factory, tiny_estimator, config):
    out = tmp_path_factory.mktemp('compression_none') / 'none.mcap'
    summary = run(sample, out, tiny_estimator, config, copy_input=True, compression='none')
    return out, summary


@pytest.mark.parametrize('compression', ['zstd', 'lz4'])
def test_compressed_mcap_decodes_to_the_same_messages(sample, tmp_path, tiny_estimator, config, uncompressed,
                                                       compression):
    plain, _ = uncompressed
    out = tmp_path / f'{compression}.mcap'
    summary = run(sample, out, tiny_estimator, config, copy_input=True, compression=compression)
    compressions, counts, decoded = mcap_listing(out)
    plain_compressions, plain_counts, plain_decoded = mcap_listing(plain)
    assert compressions == {compression} and plain_compressions == {''}
    assert counts == plain_counts and counts[f'{NS}/depth/image'] == FRAMES
    assert decoded == plain_decoded
    assert out.stat().st_size < plain.stat().st_size
    assert summary['compression'] == compression


def test_mcap_default_is_zstd_and_the_summary_gives_mb_per_second(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'default.mcap'
    bag_summary = process_bag(sample, out, tiny_estimator, config, BagOptions(progress=False))
    summary = bag_summary.as_json()
    compressions, _, _ = mcap_listing(out)
    assert compressions == {'zstd'} and summary['compression'] == 'zstd'
    recording = summary['recording']
    with Reader(out) as reader:
        span_s = (reader.end_time - reader.start_time) / 1e9     # rosbags: end is last message + 1 ns
    assert recording['size_mb'] == out.stat().st_size / 1e6
    assert recording['duration_s'] == pytest.approx(span_s, abs=1e-8)
    assert recording['mb_per_s'] == pytest.approx(recording['size_mb'] / recording['duration_s'])
    assert 'MB per second of recording' in format_summary(bag_summary)


def test_sqlite3_directory_compresses_each_message_and_reads_back_the_same(sample, tmp_path, tiny_estimator,
                                                                            config, uncompressed):
    plain, _ = uncompressed
    out = tmp_path / 'db_bag'
    summary = run(sample, out, tiny_estimator, config, copy_input=True, storage='sqlite3')
    assert summary['compression'] == 'zstd'
    with Reader(out) as reader:
        assert reader.compression_mode == 'message' and reader.compression_format == 'zstd'
    assert rosbags_messages(out) == rosbags_messages(plain)


@pytest.mark.parametrize('storage, single_file, asked, expected', [
    ('mcap', True, None, 'zstd'), ('mcap', False, 'lz4', 'lz4'), ('mcap', True, 'none', 'none'),
    ('sqlite3', False, None, 'zstd'), ('sqlite3', True, None, 'none'), ('sqlite3', True, 'none', 'none'),
])
def test_compression_choice(storage, single_file, asked, expected):
    assert output_compression(storage, single_file, asked) == expected


@pytest.mark.parametrize('storage, single_file, asked, fix', [
    ('sqlite3', True, 'zstd', 'write a bag directory'), ('sqlite3', False, 'lz4', 'zstd only'),
    ('mcap', True, 'gzip', 'one of none, lz4, zstd'),
])
def test_compression_rosbag2_cannot_read_is_refused_with_the_fix(storage, single_file, asked, fix):
    with pytest.raises(ValueError, match=fix):
        output_compression(storage, single_file, asked)


def test_refused_compression_writes_nothing(sample, tmp_path, tiny_estimator, config):
    with pytest.raises(ValueError, match='--compression zstd'):
        run(sample, tmp_path / 'out.db3', tiny_estimator, config, compression='zstd')
    assert list(tmp_path.iterdir()) == []


def stamps(decoded, topic):
    return [fields['header']['stamp'] for _, fields in decoded.get(topic, [])]


@pytest.mark.parametrize('mode', ['fixed', 'lidar'])
def test_relative_unaligned_keeps_depth_relative_only_where_there_is_no_depth(sample, tmp_path, tiny_estimator,
                                                                             config, mode):
    out = tmp_path / 'unaligned.mcap'
    run(sample, out, tiny_estimator, config.replace(alignment_mode=mode), relative='unaligned')
    _, counts, decoded = mcap_listing(out)
    with_depth = stamps(decoded, f'{NS}/depth/image')
    relative = stamps(decoded, f'{NS}/depth/relative')
    assert counts[f'{NS}/depth/alignment'] == FRAMES
    assert sorted(map(str, with_depth + relative)) == sorted(map(str, stamps(decoded, f'{NS}/depth/alignment')))
    not_ok = [fields['header']['stamp'] for _, fields in decoded[f'{NS}/depth/alignment'] if not fields['ok']]
    assert relative == not_ok
    if mode == 'fixed':
        assert f'{NS}/depth/relative' not in counts and len(with_depth) == FRAMES


def test_copy_gt_false_leaves_the_ground_truth_out(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'no_gt.mcap'
    summary = run(sample, out, tiny_estimator, config, copy_input=True, copy_gt=False)
    _, counts, _ = mcap_listing(out)
    assert sample_bag.GT_TOPIC not in counts and counts[sample_bag.IMAGE_TOPIC] == FRAMES
    assert summary['ground_truth']['frames'] == FRAMES          # still read for the accuracy numbers


def test_bag_command_defaults():
    parser = argparse.ArgumentParser()
    bag_command.add_arguments(parser)
    options = bag_command.options_from_args(parser.parse_args(['in.mcap', 'out.mcap', '--copy-input']))
    assert (options.compression, options.relative, options.copy_input, options.copy_gt) == \
        (None, 'unaligned', True, False)
    options = bag_command.options_from_args(parser.parse_args(
        ['in.mcap', 'out.mcap', '--compression', 'lz4', '--relative', 'all', '--copy-input', '--copy-gt']))
    assert (options.compression, options.relative, options.copy_gt) == ('lz4', 'all', True)
    with pytest.raises(SystemExit):
        parser.parse_args(['in.mcap', 'out.mcap', '--compression', 'gzip'])
