"""How an output bag is compressed, in the forms `ros2 bag play` and the MCAP tools read; how input is inflated.

MCAP compresses whole chunks (zstd or lz4), inside the file, so a single .mcap stays one file that
any MCAP reader opens. rosbag2's sqlite3 storage has no chunks: it compresses each message with
zstd ("message" mode), and rosbag2 only knows that from a bag directory's metadata.yaml. So a
compressed sqlite3 output must be a directory, and a single .db3 file is written uncompressed.
Decoded messages are the same whatever the compression. Input chunks and messages are inflated
through `inflate`, which stops at the size the file declares and at MAX_INFLATED_BYTES.
"""
from typing import Any

from .errors import BagError

COMPRESSIONS = ('none', 'lz4', 'zstd')
DEFAULT_COMPRESSION = 'zstd'


def output_compression(storage: str, single_file: bool, compression: str | None = None) -> str:
    """The compression OUT gets: ``compression``, or zstd where rosbag2 can read it back, else none."""
    if compression is not None and compression not in COMPRESSIONS:
        raise BagError(f'--compression: must be one of {", ".join(COMPRESSIONS)}, got {compression!r}')
    if storage == 'mcap':
        return compression or DEFAULT_COMPRESSION
    if single_file:
        if compression in (None, 'none'):
            return 'none'
        raise BagError(
            f'--compression {compression}: a single .db3 file cannot be compressed, because rosbag2 reads a '
            'compressed sqlite3 bag only through its metadata.yaml; write a bag directory (OUT without the '
            '.db3 suffix, with --storage sqlite3) or an .mcap file')
    if compression == 'lz4':
        raise BagError('--compression lz4: rosbag2 compresses sqlite3 bags with zstd only; '
                       'use zstd or none, or write mcap')
    return compression or DEFAULT_COMPRESSION


def compress_writer(writer: Any, storage: str, compression: str) -> None:
    """Set up an unopened rosbags Writer to write ``compression`` (as chosen by output_compression)."""
    from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin
    if compression == 'none':
        return
    if storage == 'sqlite3':
        writer.set_compression(CompressionMode.MESSAGE, CompressionFormat.ZSTD)
    elif compression == 'zstd':
        writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
    else:   # rosbags writes zstd chunks only; its MCAP writer takes any chunk compressor the format names
        writer.STORAGE_PLUGINS = {**writer.STORAGE_PLUGINS, StoragePlugin.MCAP: _lz4_chunk_writer()}


def _lz4_chunk_writer() -> type:
    """rosbags' MCAP storage writer with lz4-frame chunks (the MCAP spec's "lz4")."""
    import lz4.frame
    from rosbags.rosbag2.storage_mcap import McapWriter

    class Lz4ChunkMcapWriter(McapWriter):
        def __init__(self, path: Any, compression: Any) -> None:
            super().__init__(path, compression)
            self.compression, self.compressor = 'lz4', lz4.frame.compress

    return Lz4ChunkMcapWriter


# ---------------------------------------------------------------------------------------------
# reading: inflation within bounds

# The most a chunk (MCAP) or a message (sqlite3 "message" mode) may inflate to. rosbag2 writes chunks
# of about 1 MB (one message more at most), so only a crafted file comes near it; it bounds the memory
# a hostile file can make a reader take (rosbags inflates a whole chunk at once, without a limit).
MAX_INFLATED_BYTES = 256 * 2**20


class InflationRefused(ValueError):
    """Compressed data that inflates past its declared size or past MAX_INFLATED_BYTES (a bomb)."""


def inflate(data: bytes, compression: str, size: int | None = None, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """``data`` inflated, never to more than ``size`` (the size the file declares) or ``limit`` bytes."""
    bound = limit if size is None else min(size, limit)
    if size is not None and size > limit:
        raise InflationRefused(f'a {compression} chunk declares {size} bytes inflated, above the limit of {limit}')
    pieces: list[bytes] = []
    inflated = 0
    if compression == 'zstd':
        zstd = _zstd_module()
        rest = data
        while rest and inflated <= bound:     # frame after frame, each told how much may still come
            decompressor = zstd.ZstdDecompressor()
            pieces.append(decompressor.decompress(rest, max_length=bound - inflated + 1))
            inflated += len(pieces[-1])
            if inflated <= bound and not decompressor.eof:
                raise InflationRefused(f'a zstd frame of {len(data)} bytes is truncated')
            rest = decompressor.unused_data
    elif compression == 'lz4':
        import lz4.frame
        lz4_decompressor = lz4.frame.LZ4FrameDecompressor()
        pieces.append(lz4_decompressor.decompress(data, max_length=bound + 1))
        inflated = len(pieces[0])
        if inflated <= bound and not lz4_decompressor.eof:
            raise InflationRefused(f'an lz4 frame of {len(data)} bytes is truncated')
    else:
        raise InflationRefused(f'unknown compression {compression!r}')
    if inflated > bound:
        what = f'its declared {size} bytes' if size is not None and size <= limit else f'the limit of {limit} bytes'
        raise InflationRefused(f'{len(data)} bytes of {compression} inflate past {what}: a decompression bomb')
    return pieces[0] if len(pieces) == 1 else b''.join(pieces)


def _zstd_module() -> Any:
    """The zstd module rosbags reads with (the standard library's from Python 3.14, its backport before)."""
    from rosbags.rosbag2 import storage_mcap
    return storage_mcap.zstd


class _BoundedZstdModule:
    """Stands in for the zstd module rosbags' reader calls for sqlite3 "message"-compressed bags."""

    def __init__(self, module: Any):
        self.module = module

    def decompress(self, data: bytes) -> bytes:
        return inflate(data, 'zstd')

    def __getattr__(self, name: str) -> Any:
        return getattr(self.module, name)


def bound_input_inflation() -> None:
    """Make rosbags inflate input chunks and messages through `inflate` (idempotent).

    rosbags keeps its decompressors in a table (MCAP chunks) and calls a zstd module (sqlite3
    messages); both are pointed at the bounded functions, so no read path inflates without a limit.
    """
    from rosbags.rosbag2 import reader, storage_mcap
    storage_mcap.DECOMPRESSORS['zstd'] = lambda data, size: inflate(data, 'zstd', size)
    storage_mcap.DECOMPRESSORS['lz4'] = lambda data, size: inflate(data, 'lz4', size)
    if not isinstance(reader.zstd, _BoundedZstdModule):
        reader.zstd = _BoundedZstdModule(reader.zstd)  # type: ignore[assignment]
