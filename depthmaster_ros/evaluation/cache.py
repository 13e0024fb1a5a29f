"""Predictions kept on disk, so an interrupted evaluation resumes where it stopped.

One folder per (dataset, model, backend, processing size, dtype): `ROOT/<dataset>-<hash>/NAME.npy`,
float32 maps in the model's space, the same layout `--predictions DIR` reads, plus `run.json`
saying what made them. A map is written to a temporary name and renamed, so a stop mid-write leaves
no half file that a rerun would trust.
"""
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np


def cache_folder(root: str | Path, dataset: str, identity: dict[str, Any]) -> Path:
    """The folder of one run's predictions under root (the same identity always gives the same folder)."""
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    return Path(root) / f'{dataset}-{digest}'


class PredictionCache:
    def __init__(self, folder: str | Path, identity: dict[str, Any]):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        record = self.folder / 'run.json'
        if not record.exists():
            record.write_text(json.dumps(identity, indent=2, sort_keys=True) + '\n')
        self.space = str(identity.get('space', ''))

    def path(self, name: str) -> Path:
        return self.folder / f'{name}.npy'

    def get(self, name: str) -> np.ndarray | None:
        path = self.path(name)
        return np.load(path) if path.is_file() else None

    def put(self, name: str, relative: np.ndarray) -> None:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + '.partial')
        with open(partial, 'wb') as handle:
            np.save(handle, np.asarray(relative, np.float32))
        os.replace(partial, path)
