"""The hash a manifest records per bag: what determines its output bytes.

It covers every parameter, the bag options that change what is written, the package version, and the
model's identity: for a local model directory the relative name, size and modification time of every
file in it (cheap on multi-GB weights, and any re-download or edit changes it); for a hub id the id.
A rerun skips a bag only when its recorded hash equals the current one.
"""
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from depthmaster_ros.config import Config

if TYPE_CHECKING:
    from depthmaster_ros.bag import BagOptions

# BagOptions fields that change the output bag (progress bars, labels and sheets do not).
OUTPUT_OPTIONS = ('image_topic', 'camera_info_topic', 'points_topic', 'use_points', 'gt_topic', 'namespace',
                  'storage', 'copy_input', 'start_s', 'duration_s', 'every')


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def model_identity(model: str) -> dict[str, Any]:
    """What names the model's weights: its files for a local directory, else the hub id."""
    path = Path(model).expanduser()
    if not path.is_dir():
        return {'hub_id': model}
    files = []
    for file in sorted(p for p in path.rglob('*') if p.is_file()):
        relative = file.relative_to(path)
        if any(part.startswith('.') for part in relative.parts):
            continue
        stat = file.stat()
        files.append([relative.as_posix(), stat.st_size, stat.st_mtime_ns])
    return {'directory': str(path.resolve()), 'files': len(files), 'files_sha256': _digest(files)}


def run_hash(config: Config, options: 'BagOptions') -> dict[str, str]:
    """{'params': ..., 'model': ..., 'run': ...}: sha256 hex digests; 'run' combines the other two."""
    from depthmaster_ros import __version__
    params = _digest({'params': config.to_params(),
                      'options': {name: getattr(options, name) for name in OUTPUT_OPTIONS},
                      'version': __version__})
    model = _digest(model_identity(config.model.model))
    return {'params': params, 'model': model, 'run': _digest([params, model])}
