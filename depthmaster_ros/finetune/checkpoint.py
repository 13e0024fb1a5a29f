"""Checkpoints that resume exactly: what trains, the optimiser, the schedule, the RNG states and the data position.

One folder per checkpoint, `checkpoints/step_NNNNNNN/state.pt`, written to a temporary name and renamed
(an interrupted write leaves no half checkpoint); `checkpoints/latest` names the newest. The data
position is the step itself: the batches are a pure function of (seed, step), so step k's batches
after a resume are those of an uninterrupted run. Only the trainable tensors are stored (the base
model is named in the run's config), and the last KEEP checkpoints are kept.
"""
import os
from pathlib import Path
import shutil
from typing import Any

import torch

from .errors import FinetuneError

KEEP = 2
STATE_FILE = 'state.pt'
LATEST = 'latest'


def checkpoint_root(out: str | os.PathLike[str]) -> Path:
    return Path(out) / 'checkpoints'


def rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def restore_rng(states: dict[str, Any]) -> None:
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


def save_checkpoint(out: str | os.PathLike[str], step: int, state: dict[str, Any]) -> Path:
    """Write `state` (plus the step and the RNG states) as the checkpoint of `step`; returns its folder."""
    root = checkpoint_root(out)
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f'step_{step:07d}'
    partial = root / f'.partial_{step:07d}'
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    torch.save({**state, 'step': int(step), 'rng': rng_states()}, partial / STATE_FILE)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    (root / f'.{LATEST}').write_text(folder.name + '\n')
    os.replace(root / f'.{LATEST}', root / LATEST)
    for old in sorted(root.glob('step_*'))[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def latest_checkpoint(out: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint folder of a run, or None when it has none."""
    root = checkpoint_root(out)
    pointer = root / LATEST
    if not pointer.is_file():
        return None
    folder = root / pointer.read_text().strip()
    if not (folder / STATE_FILE).is_file():
        raise FinetuneError(f'{pointer}: names {folder.name}, which has no {STATE_FILE}; '
                            'remove the pointer to resume from an older checkpoint, or start without --resume')
    return folder


def load_checkpoint(folder: Path) -> dict[str, Any]:
    """The state saved in `folder` (tensors and plain values only: no pickled code is run)."""
    try:
        state: dict[str, Any] = torch.load(folder / STATE_FILE, map_location='cpu', weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises several types for a damaged file
        raise FinetuneError(f'{folder / STATE_FILE}: cannot be read ({type(error).__name__}: {error}); '
                            'start without --resume or remove this checkpoint') from None
    return state
