"""How an output bag is compressed, in the forms `ros2 bag play` and the MCAP tools read.

MCAP compresses whole chunks (zstd or lz4), inside the file, so a single .mcap stays one file that
any MCAP reader opens. rosbag2's sqlite3 storage has no chunks: it compresses each message with
zstd ("message" mode), and rosbag2 only knows that from a bag directory's metadata.yaml. So a
compressed sqlite3 output must be a directory, and a single .db3 file is written uncompressed.
Decoded messages are the same whatever the compression.
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
