"""Where and how our tools write rosbag2 files: storage choice, safe replacement of OUT, offered QoS.

A path ending in .mcap or .db3 is written as that single storage file (rosbags keeps the bag
metadata, QoS included, inside it, so the file alone replays in ros2 bag, RViz and Foxglove);
any other path becomes a rosbag2 directory.
"""
import os
from pathlib import Path
import shutil

STORAGES = ('mcap', 'sqlite3')
SINGLE_FILE_SUFFIXES = {'.mcap': 'mcap', '.db3': 'sqlite3'}


def output_storage(output_path, storage=None):
    """The storage plugin for OUT: a .mcap/.db3 suffix means a single file of that kind."""
    suffix_storage = SINGLE_FILE_SUFFIXES.get(Path(output_path).suffix)
    if storage is not None and storage not in STORAGES:
        raise ValueError(f'--storage: must be one of {", ".join(STORAGES)}, got {storage!r}')
    if suffix_storage and storage and storage != suffix_storage:
        raise ValueError(f'--storage {storage}: OUT {output_path} ends in {Path(output_path).suffix}, '
                         f'which is {suffix_storage}; drop the suffix to write a bag directory')
    return storage or suffix_storage or 'mcap'


class OutputLocation:
    """Writes into a hidden partial path beside OUT and moves it into place on commit.

    So an existing OUT is only replaced (with force) by a complete bag, and OUT never holds a
    half-written one.
    """

    def __init__(self, output_path, force=False):
        self.final = Path(output_path)
        if self.final.exists() and not force:
            raise ValueError(f'OUT: {self.final} exists; pass --force to overwrite it')
        self.single_file = self.final.suffix in SINGLE_FILE_SUFFIXES
        self.partial = self.final.parent / f'.{self.final.name}.partial-{os.getpid()}'
        remove_path(self.partial)
        self.final.parent.mkdir(parents=True, exist_ok=True)

    def commit(self):
        source = self.partial / f'{self.partial.name}{self.final.suffix}' if self.single_file else self.partial
        remove_path(self.final)
        source.replace(self.final)
        remove_path(self.partial)

    def discard(self):
        remove_path(self.partial)


def remove_path(path):
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def open_writer(location, storage):
    """An open rosbags Writer (rosbag2 format version 9) on the location's partial path."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    writer = Writer(location.partial, version=9, storage_plugin=StoragePlugin[storage.upper()])
    writer.open()
    return writer


def qos_profile(reliable=True, transient_local=False, depth=10):
    """One offered QoS profile, as rosbag2 records it in the bag metadata."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime
    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, depth,
               QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
               QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


def tf_static_qos(recorded=()):
    """/tf_static must be offered transient-local, or late subscribers (RViz) never see it on replay."""
    from rosbags.interfaces import QosDurability
    recorded = list(recorded)
    if recorded and all(q.durability == QosDurability.TRANSIENT_LOCAL for q in recorded):
        return recorded
    return [qos_profile(reliable=True, transient_local=True, depth=1)]
