"""The fault table in docs/reliability.md, the registry `FAULT_KINDS` and the kinds the code counts agree,
both ways, so a new fault kind without docs, or docs of a kind that no longer exists, fail here."""
import ast
from pathlib import Path
import re

from depthmaster_ros.pipeline import FAULT_KINDS, camera_sync, faults, frames

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / 'docs' / 'reliability.md'
COUNTING = [ROOT / 'depthmaster_ros' / 'ros' / 'frame_path.py', ROOT / 'depthmaster_ros' / 'pipeline' / 'assembly.py',
            ROOT / 'depthmaster_ros' / 'bag' / 'replay.py']


def documented_counters():
    """Backticked names in the `counter` column of every table of the doc that has one."""
    names, column = set(), None
    for line in DOC.read_text().splitlines():
        if not line.startswith('|'):
            column = None
            continue
        cells = [cell.strip() for cell in line.strip('|').split('|')]
        if 'counter' in cells:
            column = cells.index('counter')
        elif column is not None and not set(cells[0]) <= {'-'}:
            names.update(re.findall(r'`([a-z_]+)`', cells[column]))
    return names


def counted_in_code():
    """String kinds passed to `_fault(...)`, `_report(...)`, `_skip(...)` and `InputError(..., kind=...)`, and
    the warning, sync and skip kind constants."""
    kinds = set()
    for path in COUNTING:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, 'attr', getattr(node.func, 'id', ''))
            if name in ('_fault', '_report', '_skip') and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                kinds.add(node.args[0].value)
            elif name == 'InputError':
                kinds.update(keyword.value.value for keyword in node.keywords
                             if keyword.arg == 'kind' and isinstance(keyword.value, ast.Constant))
    for module in (frames, camera_sync, faults):
        kinds.update(value for name, value in vars(module).items()
                     if name.isupper() and isinstance(value, str) and not name.startswith('_'))
    return kinds


def test_every_kind_the_code_counts_is_registered():
    assert counted_in_code() - set(FAULT_KINDS) == set()


def test_every_registered_kind_is_counted_somewhere():
    assert set(FAULT_KINDS) - counted_in_code() == set()


def test_the_doc_fault_tables_name_exactly_the_registered_kinds():
    documented = documented_counters()
    assert set(FAULT_KINDS) - documented == set(), 'kinds missing from docs/reliability.md'
    assert documented - set(FAULT_KINDS) == set(), 'docs/reliability.md names kinds the code does not count'
