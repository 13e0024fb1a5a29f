"""Training batches that are a pure function of the step: exact resume, and the same samples on 1 or N workers.

The training positions are visited epoch by epoch, each epoch in a permutation drawn from (seed, epoch); the
global batch of step s is the next `batch x world` positions of that stream, and rank r takes items r::world of
it, so two workers with batch B see exactly the samples (and augmentations) of one worker with batch 2B.
Item i of a global batch is augmented with a generator seeded by (seed, step, i). `batch_at(k)` therefore
needs nothing of the steps before k: a resumed run gets the batches k, k+1, ... of an uninterrupted one.

Batches are at the model's processing size for `res`: the official rule (`processing_size`: the longer side
becomes res) with each side rounded down to a multiple of 8 (the VAE's stride). Images are resized as the
model resizes them (`model.resize_uint8`); the LiDAR samples move to the cell of the processing grid their
pixel centre falls in, the nearest return of a cell kept (never interpolated across depth edges); dense
ground truth is sampled at the cell centres (nearest).
"""
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
import math
from typing import TYPE_CHECKING

import numpy as np

from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.model import processing_size

from .augment import Augmentation
from .errors import FinetuneError
from .frame_store import FrameStore
from .samples import TrainingSample

if TYPE_CHECKING:
    import torch

VAE_STRIDE = 8


def processing_grid(width: int, height: int, res: int) -> tuple[int, int]:
    """(w, h) the model is trained at for an image of width x height (see the module notes)."""
    new_w, new_h = processing_size(width, height, res)
    grid = (new_w // VAE_STRIDE * VAE_STRIDE, new_h // VAE_STRIDE * VAE_STRIDE)
    if min(grid) < VAE_STRIDE:
        raise FinetuneError(f'--res: a {width}x{height} image at res {res} becomes {new_w}x{new_h}; both sides '
                            f'must reach {VAE_STRIDE} pixels')
    return grid


def sparse_to_grid(sparse: np.ndarray, width: int, height: int) -> np.ndarray:
    """Sparse metres (NaN empty) on a width x height grid: each return in the cell of its pixel centre, the
    nearest one where several meet."""
    rows, cols = np.nonzero(np.isfinite(sparse))
    in_height, in_width = sparse.shape
    cell_rows = np.minimum(((rows + 0.5) * height / in_height).astype(np.int64), height - 1)
    cell_cols = np.minimum(((cols + 0.5) * width / in_width).astype(np.int64), width - 1)
    grid = np.full(height * width, np.inf, np.float32)
    np.minimum.at(grid, cell_rows * width + cell_cols, sparse[rows, cols])
    grid[np.isinf(grid)] = np.nan
    return grid.reshape(height, width)


def dense_to_grid(dense: np.ndarray, width: int, height: int) -> np.ndarray:
    """Dense metres at the cell centres of a width x height grid (nearest pixel)."""
    in_height, in_width = dense.shape
    rows = np.minimum(((np.arange(height) + 0.5) * in_height / height).astype(np.int64), in_height - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * in_width / width).astype(np.int64), in_width - 1)
    return np.ascontiguousarray(dense[rows[:, None], cols[None, :]], np.float32)


@dataclass
class Batch:
    """One rank's share of a global batch, on the CPU, at the processing size."""
    images: 'torch.Tensor'              # uint8 [B, h, w, 3] RGB
    sparse: 'torch.Tensor'              # float32 [B, h, w] metres, NaN where no LiDAR sample
    dense: 'torch.Tensor | None'        # float32 [B, h, w] ground truth; None unless every sample has it
    flipped: 'torch.Tensor'             # bool [B]
    positions: 'torch.Tensor'           # int64 [B] the samples' positions in the frame store
    cameras: tuple[CameraModel, ...]    # each image's intrinsics at the processing size (flipped when it is)


class TrainingBatches:
    """Batches of `batch` samples from the store positions `indices` (see the module notes)."""

    def __init__(self, store: FrameStore, indices: Sequence[int] | np.ndarray, *, res: int, batch: int, seed: int = 0,
                 augment: bool | Augmentation = True, shuffle: bool = True, rank: int = 0, world: int = 1):
        if batch < 1 or world < 1 or not 0 <= rank < world:
            raise FinetuneError(f'batch {batch}, rank {rank}, world {world}: need batch >= 1 and 0 <= rank < world')
        self.store, self.indices = store, np.asarray(indices, np.int64)
        if len(self.indices) == 0:
            raise FinetuneError('no samples to make batches of')
        self.res, self.batch, self.seed, self.shuffle = res, batch, seed, shuffle
        self.augmentation = Augmentation() if augment is True else augment or None
        self.rank, self.world = rank, world
        cameras = {int(k) for k in store.index['camera'][self.indices]}
        sizes = {(store.cameras[k].width, store.cameras[k].height) for k in cameras}
        if len(sizes) > 1:
            raise FinetuneError(f'the samples have several image sizes ({sorted(sizes)}); batches take one size: '
                                'fine-tune on the recordings of one camera model at a time')
        (width, height), = sizes
        self.size = processing_grid(width, height, res)

    @property
    def global_batch(self) -> int:
        return self.batch * self.world

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.indices) / self.global_batch)

    def for_rank(self, rank: int, world: int) -> 'TrainingBatches':
        """The same stream for one of `world` workers with this batch each: items rank::world of each global batch."""
        return TrainingBatches(self.store, self.indices, res=self.res, batch=self.batch, seed=self.seed,
                               augment=self.augmentation or False, shuffle=self.shuffle, rank=rank, world=world)

    def _epoch_order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return self.indices
        return self.indices[np.random.default_rng([self.seed, epoch]).permutation(len(self.indices))]

    def global_positions(self, step: int) -> np.ndarray:
        """The store positions of the global batch of `step` (all ranks)."""
        if step < 0:
            raise FinetuneError(f'step: must not be negative, got {step}')
        stream = np.arange(step * self.global_batch, (step + 1) * self.global_batch)
        epochs, offsets = np.divmod(stream, len(self.indices))
        orders = {int(epoch): self._epoch_order(int(epoch)) for epoch in np.unique(epochs)}
        return np.array([orders[int(e)][o] for e, o in zip(epochs, offsets)], np.int64)

    def batch_at(self, step: int) -> Batch:
        """This rank's batch of `step`."""
        items = range(self.rank, self.global_batch, self.world)
        positions = self.global_positions(step)
        return self._make([(int(positions[i]), np.random.default_rng([self.seed, step, i])) for i in items])

    def once(self) -> Iterator[Batch]:
        """This rank's share of every position once, in order, unaugmented (validation); the last batch may be short."""
        mine = self.indices[self.rank::self.world]
        for start in range(0, len(mine), self.batch):
            yield self._make([(int(p), None) for p in mine[start:start + self.batch]])

    def _make(self, items: list[tuple[int, np.random.Generator | None]]) -> Batch:
        import torch

        from depthmaster_ros.model import resize_uint8
        width, height = self.size
        samples, flipped = [], []
        for position, rng in items:
            sample: TrainingSample = self.store[position]
            turned = False
            if self.augmentation is not None and rng is not None:
                sample, turned = self.augmentation.apply(sample, rng)
            samples.append(sample)
            flipped.append(turned)
        images = torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2)
        images = resize_uint8(images, (height, width)).permute(0, 2, 3, 1).contiguous()
        sparse = torch.from_numpy(np.stack([sparse_to_grid(s.sparse_depth, width, height) for s in samples]))
        dense = None
        if all(s.dense_depth is not None for s in samples):
            dense = torch.from_numpy(np.stack([dense_to_grid(s.dense_depth, width, height)    # type: ignore[arg-type]
                                               for s in samples]))
        cameras = tuple(s.camera.scaled(width, height, aspect_tolerance=0.05) for s in samples)
        return Batch(images=images, sparse=sparse, dense=dense, flipped=torch.tensor(flipped, dtype=torch.bool),
                     positions=torch.tensor([p for p, _ in items], dtype=torch.int64), cameras=cameras)
