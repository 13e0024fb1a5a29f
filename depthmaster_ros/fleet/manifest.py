"""The batch manifest: one JSON line per finished attempt at a bag, appended by the driver only.

The newest line for a bag is its state. A bag is done when that line says ``done`` with the current
run hash and its output exists; anything else (failed, interrupted, another hash, missing output, no
line) is redone by the next run. A line cut short by a crash is ignored, so a rerun simply redoes that
bag. Only the driver writes the file, so workers on other machines never contend for it.
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
from typing import Any

MANIFEST_NAME = 'manifest.jsonl'

DONE = 'done'
FAILED = 'failed'
INTERRUPTED = 'interrupted'


@dataclass(frozen=True)
class BagOutcome:
    """What a bag that ran to its end (done or interrupted) reports, taken from its bag summary."""
    frames: dict[str, int]                  # in, selected, out
    skips: dict[str, int]                   # skip reason -> frames
    faults: dict[str, int]                  # fault kind -> inputs
    alignment_ok_ratio: float | None        # None when no frame was written
    device: str
    torch_threads: int                      # CPU inference is bit-identical only at one thread count
    weights: str                            # which weights ran (model.provenance.weights_line)
    random_weights: bool                    # a tiny random-weight test model: the depth is meaningless
    cameras: dict[str, dict[str, int]] | None = None   # a camera ring's frames per camera: in, selected, out


@dataclass(frozen=True)
class ManifestRecord:
    """One attempt at one bag: the one form every executor reports and the manifest writes.

    `as_json` is the line's layout: the fields that are None are left out, an outcome's fields sit at
    the top level.
    """
    name: str
    input: str
    output: str
    hash: dict[str, str]
    attempt: int
    status: str
    finished_at: str
    started_at: str | None = None
    worker: dict[str, Any] | None = None            # host and pid of the process that ran it
    removed_partials: list[str] | None = None       # what a killed earlier attempt had left
    reason: str | None = None                       # why it failed
    will_retry: bool | None = None                  # a worker died and the bag goes back to the queue
    timings: dict[str, Any] = field(default_factory=dict)
    outcome: BagOutcome | None = None

    def as_json(self) -> dict[str, Any]:
        line = {name: value for name, value in vars(self).items() if value is not None and name != 'outcome'}
        if not self.timings:
            del line['timings']
        if self.outcome is not None:
            line.update(vars(self.outcome))
            if self.outcome.cameras is None:
                del line['cameras']
        return line


class Manifest:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.latest: dict[str, dict[str, Any]] = {}
        for record in self.records():
            self.latest[record['name']] = record

    def records(self) -> Iterator[dict[str, Any]]:
        """Every complete record in the file, oldest first."""
        if not self.path.is_file():
            return
        with self.path.open(encoding='utf-8') as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and 'name' in record and 'status' in record:
                    yield record

    def is_done(self, name: str, run_hash: str) -> bool:
        record = self.latest.get(name)
        return (record is not None and record['status'] == DONE and record.get('hash', {}).get('run') == run_hash
                and Path(record['output']).exists())

    def append(self, record: ManifestRecord) -> None:
        """Add one record and make it durable before the next bag is reported."""
        line = record.as_json()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open('a', encoding='utf-8') as out:
            out.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + '\n')
            out.flush()
            os.fsync(out.fileno())
        self.latest[record.name] = line
