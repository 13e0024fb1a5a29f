"""`finetune_manifest.json`: what a fine-tuned model was made from and how well it did, step 0 included.

Inputs with their hashes (from the frame store's data manifest), the parameters of the run, the base
model and its sha256 (the hash `model_sha256` pins), the steps done and the validation history
`[{"step", "rmse_m", "abs_rel", ...}]`. Written at every checkpoint too, so an interrupted run says
how far it got.
"""
import json
import os
from pathlib import Path
import time
from typing import Any

MANIFEST_NAME = 'finetune_manifest.json'
FORMAT_VERSION = 1


def write_manifest(out: str | os.PathLike[str], *, config: dict[str, Any], data: dict[str, Any],
                   base_sha256: str, steps_done: int, world_size: int, validation: list[dict[str, Any]],
                   outputs: dict[str, str], finished: bool) -> Path:
    """Write the run's manifest atomically; returns its path."""
    path = Path(out) / MANIFEST_NAME
    record = {
        'format_version': FORMAT_VERSION,
        'written': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'finished': finished,
        'base_model': {'source': str(config.get('base')), 'sha256': base_sha256},
        'inputs': data.get('inputs', []),
        'val_inputs': data.get('val_inputs', []),
        'data_manifest': data.get('path'),
        'parameters': {key: value for key, value in config.items() if key not in ('train', 'val')},
        'train_frames': len(config.get('train', ())),
        'val_frames': len(config.get('val', ())),
        'world_size': world_size,
        'steps_done': steps_done,
        'validation': validation,
        'outputs': outputs,
    }
    partial = path.with_suffix('.json.partial')
    partial.write_text(json.dumps(record, indent=2, default=str) + '\n')
    os.replace(partial, path)
    return path

