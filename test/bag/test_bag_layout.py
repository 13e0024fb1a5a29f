"""The layout of an output bag, read the way rosbag2 reads it: final names everywhere, complete on arrival.

rosbag2 opens a bag directory through metadata.yaml (each relative_file_paths entry is a file in the
directory), and a single .mcap or .db3 file through the bag metadata stored inside it. No name may
be a temporary one, no file may be hidden, and OUT may only appear once the bag is complete.
"""
import sqlite3

from mcap.reader import make_reader
import pytest
import yaml

from depthmaster_ros.bag import BagOptions, process_bag

from fixtures_bag import module_sample, run

FRAMES, WIDTH, HEIGHT = 3, 64, 48

sample = module_sample(FRAMES, seed=2, width=WIDTH, height=HEIGHT)


@pytest.fixture(scope='module')
def config(fixed_bag_config):
    return fixed_bag_config


def embedded_mcap_metadata(path):
    """The rosbag2 metadata record inside an .mcap, as rosbag2's mcap storage plugin reads it."""
    with open(path, 'rb') as stream:
        records = [m for m in make_reader(stream).iter_metadata() if m.name == 'rosbag2']
    assert len(records) == 1
    return yaml.safe_load(records[0].metadata['serialized_metadata'])


def embedded_sqlite_metadata(path):
    with sqlite3.connect(f'file:{path}?mode=ro', uri=True) as connection:
        (text,), = connection.execute('SELECT metadata FROM metadata').fetchall()
    return yaml.safe_load(text)


def assert_no_temporary_names(directory):
    names = [p.name for p in directory.rglob('*')]
    assert not [n for n in names if n.startswith('.') or 'partial' in n], names


def assert_rosbag2_directory(bag_directory, storage_suffix):
    """metadata.yaml names files that exist in the directory, under their final names."""
    info = yaml.safe_load((bag_directory / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['relative_file_paths'] == [f'{bag_directory.name}{storage_suffix}']
    assert [entry['path'] for entry in info['files']] == info['relative_file_paths']
    for relative in info['relative_file_paths']:
        assert (bag_directory / relative).is_file()
    assert sorted(p.name for p in bag_directory.iterdir()) == sorted(['metadata.yaml', *info['relative_file_paths']])
    return info


def test_single_mcap_embeds_its_own_final_name(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'depth.mcap'
    run(sample, out, tiny_estimator, config, copy_input=True)
    assert [p.name for p in tmp_path.iterdir()] == ['depth.mcap']
    info = embedded_mcap_metadata(out)
    assert info['relative_file_paths'] == ['depth.mcap']
    assert [entry['path'] for entry in info['files']] == ['depth.mcap']
    assert 'partial' not in out.read_bytes().decode('latin-1')


def test_mcap_directory_holds_metadata_yaml_and_the_named_file(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'run_1'
    run(sample, out, tiny_estimator, config)
    assert_no_temporary_names(tmp_path)
    info = assert_rosbag2_directory(out, '.mcap')
    assert info['storage_identifier'] == 'mcap'
    assert embedded_mcap_metadata(out / 'run_1.mcap')['relative_file_paths'] == ['run_1.mcap']
    # the counts metadata.yaml states are those of the storage file's own summary
    with open(out / 'run_1.mcap', 'rb') as stream:
        summary = make_reader(stream).get_summary()
    by_topic = {summary.channels[cid].topic: n for cid, n in summary.statistics.channel_message_counts.items()}
    assert {t['topic_metadata']['name']: t['message_count'] for t in info['topics_with_message_count']} == by_topic


def test_sqlite3_directory_names_a_visible_db3(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'run_db'
    run(sample, out, tiny_estimator, config, storage='sqlite3')
    assert_no_temporary_names(tmp_path)
    info = assert_rosbag2_directory(out, '.db3')
    assert info['storage_identifier'] == 'sqlite3'
    assert info['compression_mode'] == 'message' and info['compression_format'] == 'zstd'
    assert embedded_sqlite_metadata(out / 'run_db.db3')['relative_file_paths'] == ['run_db.db3']


def test_single_db3_embeds_its_own_final_name(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'depth.db3'
    summary = run(sample, out, tiny_estimator, config)
    assert [p.name for p in tmp_path.iterdir()] == ['depth.db3']
    info = embedded_sqlite_metadata(out)
    assert info['relative_file_paths'] == ['depth.db3']
    assert info['compression_mode'] == '' and summary['compression'] == 'none'


@pytest.mark.parametrize('name', ['again.mcap', 'again_dir'])
def test_out_is_replaced_only_by_the_complete_bag(sample, tmp_path, tiny_estimator, config, name):
    out = tmp_path / name
    old = out if name.endswith('.mcap') else out / 'old.txt'
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_text('the previous run')
    seen_while_writing = []

    def look():
        seen_while_writing.append(old.is_file() and old.read_text() == 'the previous run')
        stagings = [p for p in tmp_path.iterdir() if '.partial-' in p.name]
        inside = [p for staging in stagings for p in staging.rglob('*')]
        seen_while_writing.append(len(stagings) == 1 and bool(inside) and not any('partial' in p.name for p in inside))
        return False

    process_bag(sample, out, tiny_estimator, config, BagOptions(progress=False, force=True), stop_requested=look)
    assert seen_while_writing and all(seen_while_writing)   # OUT was the old one; the staged bag had final names
    assert_no_temporary_names(tmp_path)
    assert not old.exists() or old == out and old.read_bytes().startswith(b'\x89MCAP')


def test_a_failed_run_leaves_neither_out_nor_a_staging_directory(sample, tmp_path, tiny_estimator, config):
    out = tmp_path / 'failed.mcap'

    def fail():
        raise RuntimeError('stop here')

    with pytest.raises(RuntimeError, match='stop here'):
        process_bag(sample, out, tiny_estimator, config, BagOptions(progress=False), stop_requested=fail)
    assert list(tmp_path.iterdir()) == []
