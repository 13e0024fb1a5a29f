"""Refusing a hostile or corrupt input bag as a whole, with the bag, the topic and the record named.

The offline tools read files from other robots and other people. A record that contradicts itself
(sizes past its data, a chunk that inflates past what it declares, a type definition that is not the
type it names, CDR that does not decode as its declared type) cannot come from a working recorder,
so nothing the file says is trusted: the run stops before anything reaches OUT, and `batch` records
the bag as failed and goes on. Damaged but honest content (a truncated JPEG, an unknown encoding,
an all-zero K) is still skipped and counted frame by frame, as the node does.
"""
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
import struct
from typing import Any

from .compression import MAX_INFLATED_BYTES, InflationRefused
from .errors import BagError


class BagRefused(BagError):
    """IN is refused: one of its records is inconsistent. ``str()`` names the bag, the topic and the record."""

    def __init__(self, bag: str | Path, problem: str, topic: str | None = None, record: str | None = None):
        where = ', '.join(part for part in (f'topic {topic}' if topic else '', record or '') if part)
        super().__init__(f'IN {bag} refused ({where or "container"}): {problem}; the file is damaged or crafted, '
                         'nothing was written')
        self.bag, self.topic, self.record, self.problem = str(bag), topic, record, problem


def _mcap_storages(reader: Any) -> list[Any]:
    """The MCAP storage readers under a rosbags Reader (a single file) or DirectoryReader (a bag directory)."""
    found, queue = [], [reader]
    while queue:
        item = queue.pop()
        if hasattr(item, 'chunks'):
            found.append(item)
        queue.extend(getattr(item, 'storages', None) or [])
        if getattr(item, 'storage', None) is not None:
            queue.append(item.storage)
    return found


def check_chunk_index(bag: str | Path, reader: Any) -> None:
    """Refuse MCAP chunks whose index and records disagree, reach past the end of the file or declare bombs.

    rosbags finds chunks through the index and reads a chunk's declared number of bytes in one call,
    then inflates it whole; so every chunk record's own header is compared with its index entry
    before any chunk is read (a few dozen bytes per chunk).
    """
    for storage in _mcap_storages(reader):
        path = Path(storage.path)
        size = path.stat().st_size
        with path.open('rb') as file:
            for number, chunk in enumerate(storage.chunks):
                _check_chunk(bag, file, size, number, chunk)


_CHUNK_HEAD = struct.Struct('<BQQQQI')      # opcode, record length, start, end, uncompressed size, crc


def _check_chunk(bag, file, size, number, chunk):
    record = f'chunk {number} at byte {chunk.chunk_start_offset}'
    if chunk.chunk_start_offset + chunk.chunk_length > size or chunk.compressed_size > chunk.chunk_length:
        raise BagRefused(bag, f'the chunk index says {chunk.chunk_length} bytes ({chunk.compressed_size} compressed) '
                              f'but the file ends at byte {size}', record=record)
    if chunk.uncompressed_size > MAX_INFLATED_BYTES:
        raise BagRefused(bag, f'a {chunk.compression} chunk declares {chunk.uncompressed_size} bytes inflated, '
                              f'above the limit of {MAX_INFLATED_BYTES}', record=record)
    file.seek(chunk.chunk_start_offset)
    head = file.read(_CHUNK_HEAD.size + 4 + len(chunk.compression) + 8)
    if len(head) < _CHUNK_HEAD.size + 4 + len(chunk.compression) + 8:
        raise BagRefused(bag, 'the chunk record is cut off by the end of the file', record=record)
    opcode, length, _, _, inflated, _ = _CHUNK_HEAD.unpack_from(head)
    (compressed,) = struct.unpack_from('<Q', head, len(head) - 8)
    if (opcode, length, inflated, compressed) != (0x06, chunk.chunk_length - 9, chunk.uncompressed_size,
                                                  chunk.compressed_size):
        raise BagRefused(bag, f'the chunk record (opcode {opcode:#04x}, {length} bytes, {inflated} inflated, '
                              f'{compressed} compressed) disagrees with its index entry ({chunk.chunk_length - 9} '
                              f'bytes, {chunk.uncompressed_size} inflated, {chunk.compressed_size} compressed)',
                         record=record)


def guarded_records(bag: str | Path, records: Iterable[Any], position: Callable[[], str]) -> Iterator[Any]:
    """``records`` (a rosbags message iterator) with every read error turned into BagRefused.

    Only the reading is guarded: ``position()`` names the last record read, the one the error follows.
    """
    iterator = iter(records)
    while True:
        try:
            record = next(iterator)
        except StopIteration:
            return
        except (InflationRefused, MemoryError) as error:
            raise BagRefused(bag, str(error) or type(error).__name__, record=position()) from None
        except Exception as error:  # noqa: BLE001 - rosbags' ReaderError, struct and index errors: all mean "unreadable"
            raise BagRefused(bag, f'unreadable record ({type(error).__name__}: {error})', record=position()) from None
        yield record
