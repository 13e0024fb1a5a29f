"""A corpus of hostile rosbag2 files, written by the tests, and the memory-limited run that feeds them to the tools.

Each entry is a bag directory that a crafted or corrupt file could be: chunks that inflate to gigabytes,
records whose lengths pass the end of the file, images and clouds whose sizes lie, compressed images
that declare 20000x20000, topics whose type name lies. `refuse_corpus` (run as a script in a child
process under an address-space limit) processes every entry with `process_bag` and then all of them
with `run_batch`, and writes what happened as JSON.
"""
from collections.abc import Callable
import dataclasses
import json
from pathlib import Path
import struct
import sys
import zlib

BOMB_BYTES = 6 * 2**30            # what a chunk bomb inflates to: above the child's whole address space
ZEROS = bytes(16 * 2**20)
MAGIC = b'\x89MCAP0\r\n'
KINDS = ('chunk bomb', 'length past the end', 'image size lie', 'cloud size lie', 'compressed image 20000x20000',
         'type name lie')


@dataclasses.dataclass
class Entry:
    name: str
    kind: str
    topic: str | None = None     # the topic the error must name (None: a container record, no topic)


# ---------------------------------------------------------------------------------------------
# bags written message by message

def _copy(source: Path, target: Path, edit: Callable | None = None, plugin: type | None = None,
          storage: str = 'mcap', definitions: dict | None = None) -> Path:
    """Copy ``source`` to the bag directory ``target``; edit(topic, index, raw, store) -> [(topic, type, raw)]."""
    from rosbags.rosbag2 import Reader, StoragePlugin, Writer

    from depthmaster_ros.bag import typestore
    store = typestore()
    edit = edit or (lambda topic, index, raw, store, msgtype: [(topic, msgtype, raw)])
    writer = Writer(target, version=9, storage_plugin=StoragePlugin[storage.upper()])
    if plugin is not None:
        writer.STORAGE_PLUGINS = {**writer.STORAGE_PLUGINS, StoragePlugin.MCAP: plugin}
    with Reader(source) as reader, writer:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        connections, counters = {}, {}
        for connection, log_ns, raw in reader.messages():
            index = counters[connection.topic] = counters.get(connection.topic, -1) + 1
            for topic, msgtype, data in edit(connection.topic, index, bytes(raw), store, connection.msgtype):
                if (topic, msgtype) not in connections:
                    msgdef, digest = (definitions or {}).get(topic, (None, None))
                    connections[topic, msgtype] = writer.add_connection(
                        topic, msgtype, typestore=store, msgdef=msgdef, rihs01=digest,
                        offered_qos_profiles=qos.get(topic, ()))
                writer.write(connections[topic, msgtype], log_ns, data)
    return target


def _storage_file(bag: Path) -> Path:
    return next(p for p in bag.iterdir() if p.suffix in ('.mcap', '.db3'))


def _edited(store, raw, msgtype, **changes):
    return store.serialize_cdr(dataclasses.replace(store.deserialize_cdr(raw, msgtype), **changes), msgtype)


def _on(topic, index, change):
    """An edit that applies change(raw, store, msgtype) -> [(topic, type, raw)] to one record only."""
    def edit(t, i, raw, store, msgtype):
        return change(raw, store, msgtype) if (t, i) == (topic, index) else [(t, msgtype, raw)]
    return edit


# ---------------------------------------------------------------------------------------------
# chunk bombs

def _stream(compressor, head: bytes, prefix: bytes, size: int) -> bytes:
    """``head``, then ``prefix`` and zeros up to ``size`` bytes through a streaming compressor, then its end."""
    out = [head, compressor.compress(prefix)]
    left = size - len(prefix)
    while left > 0:
        out.append(compressor.compress(ZEROS[:min(left, len(ZEROS))]))
        left -= len(ZEROS)
    out.append(compressor.flush())
    return b''.join(out)


def _zstd_bomb(prefix: bytes, size: int, content_size: bool = True) -> bytes:
    """zstd of ``prefix`` then zeros up to ``size`` bytes (a few hundred kilobytes for gigabytes)."""
    from rosbags.rosbag2.storage_mcap import zstd
    compressor = zstd.ZstdCompressor(options={zstd.CompressionParameter.content_size_flag: int(content_size)})
    if content_size:
        compressor.set_pledged_input_size(size)
    return _stream(compressor, b'', prefix, size)


def _lz4_bomb(prefix: bytes, size: int) -> bytes:
    import lz4.frame
    compressor = lz4.frame.LZ4FrameCompressor()
    return _stream(compressor, compressor.begin(), prefix, size)


def _bomb_writer(compression: str, compress: Callable[[bytes], bytes]) -> type:
    from rosbags.rosbag2.storage_mcap import McapWriter

    class BombWriter(McapWriter):
        def __init__(self, path, mode):
            super().__init__(path, mode)
            self.compression, self.compressor = compression, compress

    return BombWriter


def _records(data: bytes):
    """(opcode, record start, content start, content length) of every top-level MCAP record."""
    position, found = len(MAGIC), []
    while position + 9 <= len(data) - len(MAGIC):
        opcode = data[position]
        (length,) = struct.unpack_from('<Q', data, position + 1)
        found.append((opcode, position, position + 9, length))
        if opcode == 0x02:
            break
        position += 9 + length
    return found


def _patch(path: Path, offset: int, fmt: str, value: int) -> None:
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))


def _declare_inflated_size(path: Path, size: int) -> None:
    """Make every chunk and chunk index honestly declare ``size`` inflated bytes."""
    data = path.read_bytes()
    for opcode, _, content, length in _records(data):
        if opcode == 0x06:
            _patch(path, content + 16, '<Q', size)
        elif opcode == 0x08:
            _patch(path, content + length - 8, '<Q', size)


def chunk_bombs(base: Path, out: Path) -> list[Entry]:
    entries = []
    bombs = {
        'zstd_bomb_lying_index': ('zstd', lambda data: _zstd_bomb(data, BOMB_BYTES)),
        'zstd_bomb_no_content_size': ('zstd', lambda data: _zstd_bomb(data, BOMB_BYTES, content_size=False)),
        'zstd_bomb_second_frame': ('zstd', lambda data: _zstd_bomb(b'', 0) + _zstd_bomb(data, BOMB_BYTES)),
        'zstd_bomb_after_real_frame': ('zstd', lambda data: _zstd_bomb(data, len(data)) + _zstd_bomb(b'', BOMB_BYTES)),
        'lz4_bomb_lying_index': ('lz4', lambda data: _lz4_bomb(data, BOMB_BYTES)),
    }
    cache: dict[str, bytes] = {}
    for name, (compression, make) in bombs.items():
        def compress(data, name=name, make=make):
            if name not in cache:
                cache[name] = make(data)
            return cache[name]
        _copy(base, out / name, plugin=_bomb_writer(compression, compress))
        entries.append(Entry(name, 'chunk bomb'))
    for name in ('zstd_bomb_lying_index', 'lz4_bomb_lying_index'):       # the same bombs, declared honestly
        honest = out / f"{name.replace('lying', 'honest')}.mcap"
        honest.write_bytes(_storage_file(out / name).read_bytes())
        _declare_inflated_size(honest, BOMB_BYTES)
        entries.append(Entry(honest.stem, 'chunk bomb'))
    # sqlite3 "message" mode: one message is a bomb
    from depthmaster_ros.synthetic import sample_bag
    sqlite = out / 'sqlite_message_bomb'
    sample_bag.write_sample_bag(sqlite, frames=3, width=32, height=24, seed=3, storage='sqlite3', compression='zstd')
    import sqlite3
    with sqlite3.connect(_storage_file(sqlite)) as db:
        db.execute('UPDATE messages SET data = ? WHERE id = (SELECT MIN(id) FROM messages)',
                   (_zstd_bomb(b'', BOMB_BYTES, content_size=False),))
    entries.append(Entry(sqlite.name, 'chunk bomb'))
    return entries


# ---------------------------------------------------------------------------------------------
# lengths past the end of the file

def lengths_past_the_end(base: Path, out: Path) -> list[Entry]:
    """Uncompressed copies of the base with one length or offset pointing past the end of the file."""
    plain = _copy(base, out.parent / '_plain')
    data = _storage_file(plain).read_bytes()
    records = _records(data)
    first = {opcode: (start, content, length) for opcode, start, content, length in reversed(records)}
    chunk_start, chunk_content, _ = first[0x06]
    index_start, index_content, index_length = first[0x08]
    size = len(data)
    edits = {
        'chunk_record_length_huge': (chunk_start + 1, '<Q', 2**62),
        'chunk_record_length_past_end': (chunk_start + 1, '<Q', size),
        'chunk_records_length_huge': (chunk_content + 24 + 4 + 0 + 4 + 0, '<Q', 2**40),   # compression '' (length 0)
        'chunk_index_length_past_end': (index_content + 24, '<Q', size * 4),
        'chunk_index_start_past_end': (index_content + 16, '<Q', size + 100),
        'chunk_index_compressed_size_huge': (index_content + index_length - 16, '<Q', 2**50),
        'schema_record_length_huge': (first[0x03][0] + 1, '<Q', 2**61),
        'channel_record_length_huge': (first[0x04][0] + 1, '<Q', 2**61),
        'statistics_record_length_past_end': (first[0x0B][0] + 1, '<Q', size),
        'footer_summary_start_past_end': (first[0x02][1], '<Q', size * 3),
    }
    entries = []
    for name, (offset, fmt, value) in edits.items():
        target = out / f'{name}.mcap'
        target.write_bytes(data)
        _patch(target, offset, fmt, value)
        entries.append(Entry(name, 'length past the end'))
    # a message record inside the first chunk whose length runs past the chunk
    target = out / 'message_length_past_chunk.mcap'
    target.write_bytes(data)
    records_start = chunk_content + 8 + 8 + 8 + 4 + 4 + 0 + 8
    while data[records_start] != 0x05:
        records_start += 9 + struct.unpack_from('<Q', data, records_start + 1)[0]
    _patch(target, records_start + 1, '<Q', 2**33)
    entries.append(Entry(target.stem, 'length past the end'))
    for name, keep in (('truncated_at_60_percent', 0.6), ('truncated_at_95_percent', 0.95)):
        (out / f'{name}.mcap').write_bytes(data[:int(len(data) * keep)])
        entries.append(Entry(name, 'length past the end'))
    return entries


# ---------------------------------------------------------------------------------------------
# sizes that lie inside messages

def _changed(topic, make):
    """A record change: make(message) -> the fields to replace in it."""
    def change(raw, store, msgtype):
        return [(topic, msgtype, _edited(store, raw, msgtype, **make(store.deserialize_cdr(raw, msgtype))))]
    return change


def image_lies(base: Path, out: Path) -> list[Entry]:
    from depthmaster_ros.synthetic import GT_TOPIC, IMAGE_TOPIC

    def image(make):
        return _changed(IMAGE_TOPIC, make)

    cases = {
        'image_data_one_byte_short': (IMAGE_TOPIC, 1, image(lambda m: {'data': m.data[:-1]})),
        'image_data_half_missing': (IMAGE_TOPIC, 0, image(lambda m: {'data': m.data[:len(m.data) // 2]})),
        'image_height_doubled': (IMAGE_TOPIC, 1, image(lambda m: {'height': m.height * 2})),
        'image_step_doubled': (IMAGE_TOPIC, 1, image(lambda m: {'step': m.step * 2})),
        'image_step_below_row': (IMAGE_TOPIC, 1, image(lambda m: {'step': m.step - 1})),
        'image_height_2e9': (IMAGE_TOPIC, 2, image(lambda m: {'height': 2_000_000_000})),
        'image_width_uint32_max': (IMAGE_TOPIC, 1, image(lambda m: {'width': 2**32 - 1, 'height': 1,
                                                                    'step': 2**32 - 1})),
        'image_header_50000x50000': (IMAGE_TOPIC, 0, image(lambda m: {'width': 50_000, 'height': 50_000,
                                                                      'step': 150_000})),
        'ground_truth_data_half_missing': (GT_TOPIC, 1, _changed(GT_TOPIC, lambda m: {'data': m.data[:len(m.data) // 2]})),
    }
    return [_message_case(base, out, name, 'image size lie', topic, index, change)
            for name, (topic, index, change) in cases.items()]


def cloud_lies(base: Path, out: Path) -> list[Entry]:
    from depthmaster_ros.synthetic import POINTS_TOPIC

    def field(message, **changes):
        return {'fields': [dataclasses.replace(message.fields[0], **changes), *message.fields[1:]]}

    cases = {
        'cloud_data_one_byte_short': lambda m: {'data': m.data[:-1]},
        'cloud_width_doubled': lambda m: {'width': m.width * 2, 'row_step': m.row_step * 2},
        'cloud_height_doubled': lambda m: {'height': m.height * 2},
        'cloud_row_step_below_width': lambda m: {'row_step': m.point_step * m.width - 1},
        'cloud_point_step_zero': lambda m: {'point_step': 0, 'row_step': 0},
        'cloud_field_offset_past_point_step': lambda m: field(m, offset=m.point_step),
        'cloud_field_count_huge': lambda m: field(m, count=2**31),
        'cloud_width_uint32_max': lambda m: {'width': 2**32 - 1, 'row_step': 2**32 - 1},
        'cloud_height_2e9': lambda m: {'height': 2_000_000_000},
    }
    return [_message_case(base, out, name, 'cloud size lie', POINTS_TOPIC, 1, _changed(POINTS_TOPIC, make))
            for name, make in cases.items()]


def _png_header(width: int, height: int, body: bytes = b'') -> bytes:
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', body) + chunk(b'IEND', b''))


def _png_bomb(width: int, height: int) -> bytes:
    """A real 8-bit RGB PNG of zeros: a megabyte that decodes to width*height*3 bytes."""
    compressor = zlib.compressobj(6)
    row = bytes(1 + width * 3)
    body = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    return _png_header(width, height, body)


def _jpeg_header(width: int, height: int, padding: int = 0) -> bytes:
    """JPEG markers up to a baseline frame header declaring width x height (no scan data)."""
    segments = b'\xff\xd8'
    while padding > 0:          # APP1 segments of up to 65533 bytes each push the frame header back
        size = min(padding, 65533)
        segments += b'\xff\xe1' + struct.pack('>H', size + 2) + bytes(size)
        padding -= size
    sof = struct.pack('>BHHB', 8, height, width, 3) + b''.join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    return segments + b'\xff\xc0' + struct.pack('>H', len(sof) + 2) + sof + b'\xff\xd9'


def compressed_bombs(base: Path, out: Path) -> list[Entry]:
    from depthmaster_ros.bag import messages as rosbag_messages
    from depthmaster_ros.synthetic import IMAGE_TOPIC
    topic = IMAGE_TOPIC + '/compressed'
    real_bomb = _png_bomb(20000, 20000)
    cases = {
        'png_bomb_20000x20000': ('png', real_bomb),
        'png_bomb_as_rgb8_jpeg': ('rgb8; jpeg compressed bgr8', real_bomb),
        'png_header_20000x20000': ('png', _png_header(20000, 20000)),
        'png_header_wide_2e9x1': ('png', _png_header(2_000_000_000, 1)),
        'jpeg_header_20000x20000': ('jpeg', _jpeg_header(20000, 20000)),
        'jpeg_header_65535x65535': ('rgb8; jpeg compressed bgr8', _jpeg_header(65535, 65535)),
        'jpeg_header_behind_200_kb_of_app_segments': ('jpeg', _jpeg_header(20000, 20000, padding=200_000)),
    }
    entries = []
    for name, (fmt, payload) in cases.items():
        def to_compressed(t, i, raw, store, msgtype, fmt=fmt, payload=payload):
            if t != IMAGE_TOPIC:
                return [(t, msgtype, raw)]
            image = store.deserialize_cdr(raw, msgtype)
            from depthmaster_ros.conversions import encode_compressed, image_to_numpy
            good_fmt, good = encode_compressed(image_to_numpy(image), 'jpeg')
            message = (rosbag_messages.compressed_image_msg(fmt, payload, image.header) if i == 1 else
                       rosbag_messages.compressed_image_msg(good_fmt, good, image.header))
            return [(topic, message.__msgtype__, store.serialize_cdr(message, message.__msgtype__))]
        _copy(base, out / name, to_compressed)
        entries.append(Entry(name, 'compressed image 20000x20000', topic))
    return entries


def type_lies(base: Path, out: Path) -> list[Entry]:
    from depthmaster_ros.bag import typestore
    from depthmaster_ros.synthetic import CAMERA_INFO_TOPIC, GT_TOPIC, IMAGE_TOPIC, POINTS_TOPIC
    store = typestore()
    entries = []

    # (a) the bag carries a definition under a type name the pipeline reads that is another type
    def definition(of, edit=lambda text: text):
        text, _ = store.generate_msgdef(of)
        return edit(text), 'RIHS01_' + '0' * 64

    definitions = {
        'image_defined_as_pointcloud2': (IMAGE_TOPIC, definition('sensor_msgs/msg/PointCloud2')),
        'image_height_defined_as_string': (IMAGE_TOPIC, definition(
            'sensor_msgs/msg/Image', lambda t: t.replace('uint32 height', 'string height', 1))),
        'cloud_defined_as_camera_info': (POINTS_TOPIC, definition('sensor_msgs/msg/CameraInfo')),
        'camera_info_with_an_extra_field': (CAMERA_INFO_TOPIC, definition(
            'sensor_msgs/msg/CameraInfo', lambda t: t.replace('uint32 height', 'uint32 height\nuint64 secret', 1))),
        'header_redefined_inside_image': (IMAGE_TOPIC, definition(
            'sensor_msgs/msg/Image', lambda t: t.replace('string frame_id', 'uint64 frame_id'))),
    }
    for name, (topic, msgdef) in definitions.items():
        _copy(base, out / name, definitions={topic: msgdef})
        entries.append(Entry(name, 'type name lie', topic))

    # (b) records of one type written under another type's name (no definition to compare)
    def carried(topic, source_topic):
        cache = {}

        def edit(t, i, raw, store, msgtype):
            if t == source_topic and i == 0:
                cache['raw'] = raw
            if t == topic and i == 2 and 'raw' in cache:
                return [(t, msgtype, cache['raw'])]
            return [(t, msgtype, raw)]
        return edit

    mixes = {
        'camera_info_bytes_under_image': (IMAGE_TOPIC, CAMERA_INFO_TOPIC),
        'cloud_bytes_under_image': (IMAGE_TOPIC, POINTS_TOPIC),
        'image_bytes_under_cloud': (POINTS_TOPIC, IMAGE_TOPIC),
        'depth_bytes_under_camera_info': (CAMERA_INFO_TOPIC, GT_TOPIC),
        'tf_bytes_under_cloud': (POINTS_TOPIC, '/tf'),
    }
    for name, (topic, source_topic) in mixes.items():
        _copy(base, out / name, carried(topic, source_topic), storage='sqlite3')
        entries.append(Entry(name, 'type name lie', topic))
    return entries


def _message_case(base, out, name, kind, topic, index, change) -> Entry:
    _copy(base, out / name, _on(topic, index, change))
    return Entry(name, kind, topic)


def write_corpus(directory: Path) -> list[Entry]:
    """Every hostile bag under ``directory`` (the base sample written first, 3 frames of 32x24 with LiDAR)."""
    from depthmaster_ros.synthetic import sample_bag
    directory.mkdir(parents=True, exist_ok=True)
    base = directory / '_base.mcap'
    sample_bag.write_sample_bag(base, frames=3, width=32, height=24, seed=2, compression='none')
    corpus = directory / 'corpus'
    corpus.mkdir()
    entries = []
    for make in (chunk_bombs, lengths_past_the_end, image_lies, cloud_lies, compressed_bombs, type_lies):
        entries.extend(make(base, corpus))
    return entries


# ---------------------------------------------------------------------------------------------
# the child process: every bag through `process_bag`, then all through `run_batch`

def refuse_corpus(corpus: Path, good: Path, model: str, results: Path, address_space: int) -> None:
    """Every bag of ``corpus`` through process_bag, then ``corpus`` and the good bag through run_batch."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    import torch
    torch.set_num_threads(1)
    from depthmaster_ros.bag import BagOptions, process_bag
    from depthmaster_ros.config import Config
    from depthmaster_ros.fleet import LocalExecutor, discover, run_batch
    from depthmaster_ros.pipeline import load_configured_estimator

    config = Config.from_params({'model': model, 'device': 'cpu', 'processing_res': 32, 'alignment_mode': 'lidar',
                                 'min_points': 5})
    estimator = load_configured_estimator(config.model)
    outcome = {}
    outputs = corpus.parent / 'out'
    outputs.mkdir()
    for bag in sorted(p for p in corpus.iterdir() if not p.name.startswith('_')):
        out = outputs / f'{bag.stem}.mcap'
        try:
            process_bag(bag, out, estimator, config, BagOptions(progress=False))
            error = None
        except Exception as caught:  # noqa: BLE001 - the test reads the type and the text
            error = f'{type(caught).__name__}: {caught}'
        outcome[bag.stem] = {'error': error, 'output_exists': out.exists(),
                             'leftovers': sorted(p.name for p in outputs.iterdir())}
    options = BagOptions(progress=False)
    batch_out = corpus.parent / 'batch_out'
    jobs = discover([str(corpus), str(good)], batch_out)
    result = run_batch(jobs, batch_out, config, options, lambda hashes: LocalExecutor(config, options, hashes),
                       progress=False)
    batch = {name: {'status': record.status, 'reason': record.reason or ''} for name, record in result.records.items()}
    outputs_written = sorted(p.name for p in batch_out.iterdir() if p.name not in ('manifest.jsonl', '.batch.lock'))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.write_text(json.dumps({'bags': outcome, 'batch': batch, 'batch_outputs': outputs_written,
                                   'peak_rss_mb': peak_mb}, indent=1))


if __name__ == '__main__':
    refuse_corpus(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), int(sys.argv[5]))
