"""Where and how our tools write rosbag2 files: storage choice, final names, safe replacement of OUT, QoS.

A path ending in .mcap or .db3 is written as that single storage file (rosbags keeps the bag
metadata, QoS included, inside it, so the file alone replays in ros2 bag, RViz and Foxglove);
any other path becomes a rosbag2 directory.
"""
from collections.abc import Iterable
import os
from pathlib import Path
import shutil
from typing import TYPE_CHECKING

from .compression import compress_writer
from .errors import BagError

if TYPE_CHECKING:
    from rosbags.interfaces import Qos
    from rosbags.rosbag2 import Writer

STORAGES = ('mcap', 'sqlite3')
SINGLE_FILE_SUFFIXES = {'.mcap': 'mcap', '.db3': 'sqlite3'}


def output_storage(output_path: str | os.PathLike[str], storage: str | None = None) -> str:
    """The storage plugin for OUT: a .mcap/.db3 suffix means a single file of that kind."""
    suffix_storage = SINGLE_FILE_SUFFIXES.get(Path(output_path).suffix)
    if storage is not None and storage not in STORAGES:
        raise BagError(f'--storage: must be one of {", ".join(STORAGES)}, got {storage!r}')
    if suffix_storage and storage and storage != suffix_storage:
        raise BagError(f'--storage {storage}: OUT {output_path} ends in {Path(output_path).suffix}, '
                       f'which is {suffix_storage}; drop the suffix to write a bag directory')
    return storage or suffix_storage or 'mcap'


class OutputLocation:
    """Writes the bag under its final names in a hidden directory beside OUT, then moves it into place.

    rosbags names the storage file after the bag directory and records that name in the bag's
    metadata (metadata.yaml and the copy inside the storage file), so the bag is written as
    ``.OUT.partial-PID/NAME/NAME.mcap`` for a single file OUT=NAME.mcap and as
    ``.OUT.partial-PID/NAME/`` for a directory OUT=NAME. Commit moves the file or the directory to
    OUT in one rename: OUT appears complete and under its final name, with no temporary name inside,
    and an existing OUT is only replaced (with force) by a complete bag. A link planted at OUT or at
    the staging name is never followed: it is removed, and the rename puts the bag in its place.
    With ``root`` (a batch's --out), OUT must lie inside it once every link above OUT is resolved.
    """

    def __init__(self, output_path: str | os.PathLike[str], force: bool = False,
                 root: str | os.PathLike[str] | None = None):
        self.final = Path(output_path)
        if (self.final.exists() or self.final.is_symlink()) and not force:
            raise BagError(f'OUT: {self.final} exists; pass --force to overwrite it')
        if not self.final.name or self.final.name == '..':
            raise BagError(f'OUT: {output_path!r} names no file or directory')
        if root is not None:
            check_inside(self.final, root)
        self.single_file = self.final.suffix in SINGLE_FILE_SUFFIXES
        self.staging = self.final.parent / f'.{self.final.name}.partial-{os.getpid()}'
        self.bag_directory = self.staging / (self.final.stem if self.single_file else self.final.name)
        remove_path(self.staging)

    def commit(self) -> None:
        source = self.bag_directory / self.final.name if self.single_file else self.bag_directory
        remove_path(self.final)
        source.replace(self.final)
        remove_path(self.staging)

    def discard(self) -> None:
        remove_path(self.staging)


def check_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> None:
    """ValueError unless ``path`` is a name inside ``root`` after the links of its parent are resolved."""
    path, root = Path(path), Path(root).resolve()
    where = path.parent.resolve() / path.name
    if path.name in ('', '.', '..') or where == root or not where.is_relative_to(root):
        raise BagError(f'OUT: {path} would be written at {where}, outside {root} (a link or a name with ..); '
                         'nothing is written outside the output directory')


def remove_path(path: str | os.PathLike[str]) -> None:
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def open_writer(location: OutputLocation, storage: str, compression: str = 'none') -> 'Writer':
    """An open rosbags Writer (rosbag2 format version 9) on the location's staging bag directory."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    location.staging.mkdir(parents=True, exist_ok=True)
    writer = Writer(location.bag_directory, version=9, storage_plugin=StoragePlugin[storage.upper()])
    compress_writer(writer, storage, compression)
    writer.open()
    return writer


def bag_size_bytes(path: str | os.PathLike[str]) -> int:
    """Bytes on disk of a bag file or of every file in a bag directory."""
    path = Path(path)
    if path.is_dir():
        return sum(item.stat().st_size for item in path.rglob('*') if item.is_file())
    return path.stat().st_size


def qos_profile(reliable: bool = True, transient_local: bool = False, depth: int = 10) -> 'Qos':
    """One offered QoS profile, as rosbag2 records it in the bag metadata."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


def tf_static_offered_qos(recorded: Iterable['Qos'] = ()) -> list['Qos']:
    """The profiles a written bag offers on /tf_static: transient-local, or late subscribers (RViz) never see it on
    replay (the node's own subscription profile is `ros.qos.tf_static_qos`)."""
    from rosbags.interfaces import QosDurability
    recorded = list(recorded)
    if recorded and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in recorded):
        return recorded
    return [qos_profile(reliable=True, transient_local=True, depth=1)]
