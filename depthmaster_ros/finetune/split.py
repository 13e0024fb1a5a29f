"""Which samples train and which validate, so that validation never sees a near copy of a training frame.

Neighbouring frames of one recording are almost the same image, so a random split would validate on the
training set. Three rules, in this order:
- `val_inputs` given: the samples of those bags validate, the rest train;
- else several bags: whole bags validate (drawn by `seed` until they hold `val_share` of the samples, at
  least one bag and never all of them);
- else one bag: time blocks. The recording is cut into k equal spans, k such that `val_share` of a span is
  about `block_s` (at least one span), and a block of `val_share` of each span validates (its place in the
  span drawn by `seed`). Training frames within `guard_s` of a validation frame are left out of both sides,
  and so are the frames just before and just after each block, so no two neighbouring frames are ever on
  both sides.
"""
from collections.abc import Sequence
from dataclasses import dataclass, field
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from depthmaster_ros.errors import InputError
from depthmaster_ros.fleet import discover

from .errors import FinetuneError
from .frame_store import FrameStore

BLOCK_S = 10.0
GUARD_S = 1.0


@dataclass(frozen=True)
class Split:
    train: np.ndarray                   # store positions, ascending
    val: np.ndarray
    rule: str                           # 'inputs', 'bags' or 'blocks'
    guard: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # left out of both sides

    def as_json(self) -> dict[str, Any]:
        return {'rule': self.rule, 'train': len(self.train), 'val': len(self.val), 'guard': len(self.guard)}


def _positions(mask: np.ndarray) -> np.ndarray:
    return np.flatnonzero(mask).astype(np.int64)


def _bags_named(store: FrameStore, val_inputs: Sequence[str | Path]) -> set[str]:
    """The store's bag names that `val_inputs` name: a bag's name in the store, or bags, folders of bags or
    globs as INPUTS take them (`fleet.discover`)."""
    names = {entry['name'] for entry in store.manifest['inputs']}
    by_path = {entry['path']: entry['name'] for entry in store.manifest['inputs']}
    named = set()
    for wanted in val_inputs:
        if str(wanted) in names:
            named.add(str(wanted))
            continue
        try:
            found = {by_path.get(job.input) for job in discover([str(wanted)], store.directory)}
        except InputError:
            found = {None}
        if None in found:
            raise FinetuneError(f'--val: {wanted} is not among the bags of the frame store ({", ".join(sorted(names))})')
        named |= {name for name in found if name is not None}
    return named


def _drawn_bags(store: FrameStore, val_share: float, seed: int) -> set[str]:
    """Whole bags in an order drawn from the seed, until they hold val_share of the samples (one at least, not all)."""
    sizes: dict[str, int] = {}
    for name in store.sources:
        sizes[name] = sizes.get(name, 0) + 1
    order = sorted(sizes, key=lambda name: hashlib.sha256(f'{seed}:{name}'.encode()).hexdigest())
    chosen: set[str] = set()
    for name in order[:-1]:
        if chosen and sum(sizes[n] for n in chosen) >= val_share * len(store):
            break
        chosen.add(name)
    return chosen


def _time_blocks(stamps_ns: np.ndarray, val_share: float, block_s: float, guard_s: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(val mask, guard mask) over one recording's samples."""
    order = np.argsort(stamps_ns, kind='stable')
    t = (stamps_ns[order] - stamps_ns[order[0]]) * 1e-9
    duration = t[-1] + 1e-9
    spans = max(1, round(val_share * duration / block_s))
    span = duration / spans
    block = val_share * span
    val = np.zeros(len(t), bool)
    for k in range(spans):
        start = k * span + rng.uniform(0.0, span - block)
        val |= (t >= start) & (t < start + block)
    if not val.any():                                         # frames further apart than a block: one frame
        val[int(rng.integers(len(t)))] = True
    val_t = t[val]                                            # the distance of each frame to the nearest val frame
    after = np.minimum(np.searchsorted(val_t, t), len(val_t) - 1)
    before = np.maximum(after - 1, 0)
    guard = np.minimum(np.abs(t - val_t[after]), np.abs(t - val_t[before])) <= guard_s
    edges = np.flatnonzero(np.diff(val.astype(np.int8)))      # the last frame before a change of side
    guard[edges] = guard[np.minimum(edges + 1, len(t) - 1)] = True
    guard &= ~val
    val_mask, guard_mask = np.zeros(len(t), bool), np.zeros(len(t), bool)
    val_mask[order], guard_mask[order] = val, guard
    return val_mask, guard_mask


def split_frames(store: FrameStore, *, val_inputs: Sequence[str | Path] | None = None, val_share: float = 0.1,
                 block_s: float = BLOCK_S, guard_s: float = GUARD_S, seed: int = 0) -> Split:
    """The training and validation positions of `store` (see the module notes for the rules)."""
    if not 0.0 < val_share < 1.0:
        raise FinetuneError(f'--val-share: must be between 0 and 1, got {val_share}')
    if not block_s > 0 or not guard_s >= 0:
        raise FinetuneError(f'block_s must be positive and guard_s not negative, got {block_s}, {guard_s}')
    sources = np.asarray(store.sources, dtype=object)
    if len(store) < 2:
        raise FinetuneError(f'the frame store holds {len(store)} sample(s): too few to split into training and '
                            'validation')
    if val_inputs:
        val = np.isin(sources, sorted(_bags_named(store, val_inputs)))
        if val.all():
            raise FinetuneError('--val names every bag of the frame store: nothing is left to train on')
        return Split(_positions(~val), _positions(val), 'inputs')
    if len(set(store.sources)) > 1:
        val = np.isin(sources, sorted(_drawn_bags(store, val_share, seed)))
        return Split(_positions(~val), _positions(val), 'bags')
    val, guard = _time_blocks(np.asarray(store.stamps), val_share, block_s, guard_s, np.random.default_rng(seed))
    if not (~val & ~guard).any():
        raise FinetuneError(f'one recording of {len(store)} frames: the validation blocks and their {guard_s} s guard '
                            'leave nothing to train on; lower guard_s or val_share, or pass --val')
    return Split(_positions(~val & ~guard), _positions(val), 'blocks', _positions(guard))
