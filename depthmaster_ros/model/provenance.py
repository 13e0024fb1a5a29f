"""Which weights a run used, said in its summary: a local directory, or a hub id at a cached revision.

A user who sees depth in a summary or a bag needs to know whether it came from the real checkpoint,
which revision of it, or from the tiny random-weight model written for tests and demos.
"""
from pathlib import Path
from typing import Any

# Written into every tiny random-weight checkpoint (model/tiny.py), so a run can tell it apart.
RANDOM_WEIGHTS_NOTE = 'RANDOM_WEIGHTS.txt'
# Said at the start of a run on such weights (node, batch) and on the node's model status.
RANDOM_WEIGHTS_BANNER = 'RANDOM WEIGHTS: a tiny test model, the depth is meaningless (pipeline only)'


def describe_weights(model: str) -> dict[str, Any]:
    """{'source': 'directory', 'path', 'random'} or {'source': 'hub', 'id', 'revision', 'path'}."""
    path = Path(str(model)).expanduser()
    if path.is_dir():
        return {'source': 'directory', 'path': str(path.resolve()),
                'random': (path / RANDOM_WEIGHTS_NOTE).is_file()}
    described = {'source': 'hub', 'id': str(model), 'revision': None, 'path': None, 'random': False}
    try:
        from huggingface_hub import snapshot_download
        snapshot = Path(snapshot_download(str(model), local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the cache (or not a hub id): nothing more to say
        return described
    return {**described, 'revision': snapshot.name, 'path': str(snapshot)}


def weights_line(weights: dict[str, Any]) -> str:
    """One line for a human: what ran, and a warning when the weights are random."""
    if weights.get('random'):
        return f'weights: RANDOM (a tiny test model in {weights["path"]}): the depth is meaningless'
    if weights['source'] == 'directory':
        return f'weights: local directory {weights["path"]}'
    revision = f' at revision {weights["revision"]}' if weights.get('revision') else ''
    return f'weights: hub {weights["id"]}{revision}'


def write_random_weights_note(directory: Path) -> None:
    (Path(directory) / RANDOM_WEIGHTS_NOTE).write_text(
        'The weights in this directory are random: a tiny checkpoint in the official layout, written by\n'
        '`depthmaster-ros make-tiny-model` for tests and demos. Its depth output is meaningless.\n')
