"""The training frames of a set of bags, read once and kept on disk, with a data manifest.

`build_frame_store` reads each bag with the bag tool's own reader (`bag.read_frames`: topics, TF, camera_info by
stamp, clouds by age) and turns each frame into a `TrainingSample` (samples.py: the LiDAR mode's transform,
projection and occlusion filter; the model does not run). Samples go into compressed npz shards, one member per
array, so one sample reads without inflating its shard; `samples.npz` indexes them and `data_manifest.json`
records the inputs (name, path, sha256), the topics read, the settings, and per bag the frames read, the samples
kept and every skipped frame by reason. A store whose manifest records the same inputs and settings is reused.

Whatever `alignment_mode` the params name, the store pairs and projects the LiDAR (the training signal);
the other alignment parameters (depth range, occlusion filter, cloud age, transforms, min_points) are the node's.
"""
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
import hashlib
import json
import os
from pathlib import Path
import shutil
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmaster_ros.config import Config
from depthmaster_ros.fleet import discover
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.model import model_sha256

from .errors import FinetuneError
from .samples import Projection, SkippedFrame, TrainingSample, sample_from_frame

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions

MANIFEST = 'data_manifest.json'
INDEX = 'samples.npz'
FORMAT = 'depthmaster_ros frame store 1'
SHARD_SIZE = 64
OPEN_SHARDS = 16            # shard files a store keeps open (reading a member is then one seek and one inflate)
GROUND_TRUTH_SIZE = 'ground_truth_size'     # a fault: the sample is kept without dense depth
# BagOptions fields that change which frames are read and how they pair
READ_OPTIONS = ('image_topic', 'camera_info_topic', 'points_topic', 'gt_topic', 'start_s', 'duration_s', 'every')
INDEX_FIELDS = ('source', 'stamp_ns', 'shard', 'slot', 'camera', 'dense', 'lidar_samples', 'in_view', 'occluded')


def bag_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a bag file's bytes; of a bag directory, over its files as `model_sha256` hashes a model's."""
    path = Path(path)
    if path.is_dir():
        return model_sha256(path)
    digest = hashlib.sha256()
    with path.open('rb') as file:
        for block in iter(lambda: file.read(2**20), b''):
            digest.update(block)
    return digest.hexdigest()


def store_config(config: Config) -> Config:
    """The node's configuration with the LiDAR mode, whatever mode it names (the store's training signal)."""
    return replace(config, alignment=replace(config.alignment, alignment_mode='lidar'))


def _read_options(options: 'BagOptions | None') -> 'BagOptions':
    from depthmaster_ros.bag import BagOptions  # rosbags loads only when a store is built
    return replace(options or BagOptions(), progress=False, use_points=True)


def _settings(config: Config, options: 'BagOptions') -> dict[str, Any]:
    return {'alignment': asdict(config.alignment), 'input': asdict(config.input),
            'read': {name: getattr(options, name) for name in READ_OPTIONS}}


def _fingerprint(inputs: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    key = [[entry['name'], entry['sha256']] for entry in inputs], settings
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


class _ShardWriter:
    """Samples into npz shards of `size` samples and one index row each."""

    def __init__(self, directory: Path, size: int):
        self.directory, self.size = directory, size
        self.members: dict[str, Any] = {}       # npz member name -> array (Any: savez takes them as keywords)
        self.slot = 0                       # the next sample's place in the shard being filled
        self.shards: list[str] = []
        self.rows: list[tuple[int, ...]] = []
        self.cameras: dict[tuple[Any, ...], int] = {}
        self.camera_fields: list[dict[str, Any]] = []

    def add(self, sample: TrainingSample, projection: Projection, source: int) -> None:
        slot = self.slot
        pixels = np.flatnonzero(np.isfinite(sample.sparse_depth))
        self.members[f'{slot}_image'] = sample.image
        self.members[f'{slot}_pixels'] = pixels.astype(np.int64)
        self.members[f'{slot}_depth'] = sample.sparse_depth.ravel()[pixels]
        if sample.dense_depth is not None:
            self.members[f'{slot}_dense'] = sample.dense_depth.astype(np.float32)
        camera = self.cameras.setdefault(sample.camera.cache_key(), len(self.cameras))
        if camera == len(self.camera_fields):
            self.camera_fields.append(sample.camera.to_camera_info_fields())
        self.rows.append((source, sample.stamp_ns, len(self.shards), slot, camera, sample.dense_depth is not None,
                          len(pixels), projection.in_view, projection.occluded))
        self.slot += 1
        if self.slot == self.size:
            self.flush()

    def flush(self) -> None:
        if self.members:
            name = f'shard_{len(self.shards):05d}.npz'
            np.savez_compressed(self.directory / name, **self.members)
            self.shards.append(name)
            self.members, self.slot = {}, 0

    def write_index(self) -> None:
        self.flush()
        columns = list(zip(*self.rows)) if self.rows else [()] * len(INDEX_FIELDS)
        dtypes = (np.int32, np.int64, np.int32, np.int32, np.int32, bool, np.int64, np.int64, np.int64)
        arrays: dict[str, Any] = {field: np.asarray(column, dtype)
                                  for field, column, dtype in zip(INDEX_FIELDS, columns, dtypes)}
        np.savez(self.directory / INDEX, **arrays)


def build_frame_store(inputs: Sequence[str | os.PathLike[str]], directory: str | os.PathLike[str], config: Config, *,
                      options: 'BagOptions | None' = None, shard_size: int = SHARD_SIZE,
                      progress: Callable[[str], object] | None = None) -> 'FrameStore':
    """Read the bags named by `inputs` (bags, folders of bags, globs) into a frame store at `directory`.

    `config` is the node's (from its params file); `options` pick topics and a time window as for the bag
    tool. An existing store of the same inputs and settings is returned as it is; one of other inputs is
    replaced; a non-empty folder that is no store is refused.
    """
    if shard_size < 1:
        raise FinetuneError(f'shard_size: must be at least 1, got {shard_size}')
    directory = Path(directory)
    config, options = store_config(config), _read_options(options)
    jobs = discover([str(path) for path in inputs], directory)
    entries = [{'name': job.name, 'path': job.input, 'sha256': bag_sha256(job.input)} for job in jobs]
    settings = _settings(config, options)
    fingerprint = _fingerprint(entries, settings)
    if (directory / MANIFEST).is_file():
        if json.loads((directory / MANIFEST).read_text()).get('fingerprint') == fingerprint:
            return FrameStore(directory)
    elif directory.exists() and any(directory.iterdir()):
        raise FinetuneError(f'{directory}: exists and is not a frame store (no {MANIFEST}); choose an empty folder')
    partial = directory.with_name(f'.{directory.name}.partial')
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    writer = _ShardWriter(partial, shard_size)
    for source, (job, entry) in enumerate(zip(jobs, entries)):
        if progress is not None:
            progress(f'reading {job.name}')
        entry.update(_read_bag(job.input, job.name, source, config, options, writer))
    writer.write_index()
    skipped: Counter[str] = Counter()
    for entry in entries:
        skipped.update(entry['skipped'])
    manifest = {'format': FORMAT, 'fingerprint': fingerprint, 'inputs': entries, 'settings': settings,
                'samples': len(writer.rows), 'with_ground_truth': sum(row[5] for row in writer.rows),
                'skipped': dict(skipped), 'shards': writer.shards, 'cameras': writer.camera_fields}
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str) + '\n')
    if directory.exists():
        shutil.rmtree(directory)
    partial.rename(directory)
    return FrameStore(directory)


def _read_bag(path: str, name: str, source: int, config: Config, options: 'BagOptions',
              writer: _ShardWriter) -> dict[str, Any]:
    """One bag's samples into the writer; its manifest entry (topics, counts, skips and faults with reasons)."""
    from depthmaster_ros.bag import FrameReading, read_frames
    reading = FrameReading()
    skipped: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    reasons: dict[str, str] = {}
    samples = 0
    for assembled in read_frames(path, config, reading, options):
        frame, truth = assembled.frame, assembled.ground_truth
        if truth is not None and truth.shape != frame.rgb.shape[:2]:
            faults[GROUND_TRUTH_SIZE] += 1
            reasons[GROUND_TRUTH_SIZE] = (f'ground truth {truth.shape[1]}x{truth.shape[0]} for a '
                                          f'{frame.rgb.shape[1]}x{frame.rgb.shape[0]} image: kept without it')
            truth = None
        result = sample_from_frame(frame, truth, config.alignment, name)
        if isinstance(result, SkippedFrame):
            skipped[result.kind] += 1
            reasons[result.kind] = result.reason
            continue
        writer.add(*result, source)
        samples += 1
    skipped.update(reading.skipped)              # images the assembly could not use (decode, size)
    faults.update(reading.faults)
    return {'topics': reading.topics, 'images': reading.frames_in, 'samples': samples, 'skipped': dict(skipped),
            'faults': dict(faults), 'reasons': {**reading.messages, **reasons}}


class FrameStore:
    """The samples of a built store, by position: `store[i]` reads one from its shard.

    One object per process or thread (its open shard files are its own; pickling leaves them behind).
    """

    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        try:
            self.manifest: dict[str, Any] = json.loads((self.directory / MANIFEST).read_text())
        except FileNotFoundError:
            raise FinetuneError(f'{self.directory}: no {MANIFEST}; build the store with build_frame_store') from None
        if self.manifest.get('format') != FORMAT:
            raise FinetuneError(f'{self.directory}: {MANIFEST} is not a {FORMAT!r} manifest')
        with np.load(self.directory / INDEX) as index:
            self.index = {field: index[field] for field in INDEX_FIELDS}
        names = [entry['name'] for entry in self.manifest['inputs']]
        self.sources: tuple[str, ...] = tuple(names[k] for k in self.index['source'])
        self.stamps: np.ndarray = self.index['stamp_ns']
        self.cameras = [CameraModel.from_camera_info(SimpleNamespace(**fields)) for fields in self.manifest['cameras']]
        self._shards: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.stamps)

    def __getitem__(self, position: int) -> TrainingSample:
        if not -len(self) <= position < len(self):
            raise IndexError(f'sample {position} of a store of {len(self)}')
        i = int(position) % len(self)
        shard, slot = int(self.index['shard'][i]), int(self.index['slot'][i])
        members = self._shards.pop(shard, None)
        if members is None:
            members = np.load(self.directory / self.manifest['shards'][shard])
            if len(self._shards) >= OPEN_SHARDS:                 # the least recently read one is closed
                self._shards.pop(next(iter(self._shards))).close()
        self._shards[shard] = members
        image = members[f'{slot}_image']
        sparse = np.full(image.shape[:2], np.nan, np.float32)
        sparse.ravel()[members[f'{slot}_pixels']] = members[f'{slot}_depth']
        dense = members[f'{slot}_dense'] if self.index['dense'][i] else None
        return TrainingSample(image=image, sparse_depth=sparse, dense_depth=dense,
                              camera=self.cameras[int(self.index['camera'][i])], source=self.sources[i],
                              stamp_ns=int(self.stamps[i]))

    def __iter__(self) -> Iterator[TrainingSample]:
        return (self[i] for i in range(len(self)))

    def __getstate__(self) -> dict[str, Any]:
        """Picklable for worker processes: open shards are not carried, each process opens its own."""
        return {**self.__dict__, '_shards': {}}
