"""The batch manifest: one JSON line per finished attempt at a bag, appended by the driver only.

The newest line for a bag is its state. A bag is done when that line says ``done`` with the current
run hash and its output exists; anything else (failed, interrupted, another hash, missing output, no
line) is redone by the next run. A line cut short by a crash is ignored, so a rerun simply redoes that
bag. Only the driver writes the file, so workers on other machines never contend for it.
"""
import json
import os
from pathlib import Path
from typing import Any
from collections.abc import Iterator

MANIFEST_NAME = 'manifest.jsonl'

DONE = 'done'
FAILED = 'failed'
INTERRUPTED = 'interrupted'


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

    def append(self, record: dict[str, Any]) -> None:
        """Add one record and make it durable before the next bag is reported."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open('a', encoding='utf-8') as out:
            out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + '\n')
            out.flush()
            os.fsync(out.fileno())
        self.latest[record['name']] = record
