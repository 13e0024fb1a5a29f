"""One error family: every error the package raises on purpose is a `DepthmasterError` (a user catches one type),
declared in its subpackage's errors.py and still the builtin it stands for (`except ValueError` keeps working)."""
import ast
import importlib
import inspect
from pathlib import Path

import pytest

import depthmaster_ros
from depthmaster_ros import DepthmasterError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'depthmaster_ros'
SUBPACKAGES = sorted(path.parent.name for path in PACKAGE.glob('*/__init__.py'))
BUILTINS = {'ValueError', 'RuntimeError', 'TypeError'}


def bare_raises(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Raise) and node.exc is not None:
            called = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(called, ast.Name) and called.id in BUILTINS:
                found.append(f'{node.lineno}: raise {called.id}')
    return found


def test_the_package_raises_no_bare_builtin_error():
    offenders = {str(path.relative_to(ROOT)): found for path in sorted(PACKAGE.rglob('*.py'))
                 if (found := bare_raises(path))}
    assert not offenders


def test_the_base_is_exported_at_the_top():
    assert 'DepthmasterError' in depthmaster_ros.__all__


@pytest.mark.parametrize('subpackage', SUBPACKAGES)
def test_each_subpackage_declares_its_errors_under_the_one_base(subpackage):
    errors = importlib.import_module(f'depthmaster_ros.{subpackage}.errors')
    classes = [value for value in vars(errors).values()
               if inspect.isclass(value) and value.__module__ == errors.__name__]
    assert classes
    assert [cls.__name__ for cls in classes if not issubclass(cls, DepthmasterError)] == []
    assert [cls.__name__ for cls in classes if cls.__bases__ == (DepthmasterError,)] == []   # also a builtin
    exported = importlib.import_module(f'depthmaster_ros.{subpackage}').__all__
    assert [cls.__name__ for cls in classes if cls.__name__ not in exported] == []
