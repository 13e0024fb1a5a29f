"""Each subpackage declares its public names in `__all__`, and code outside a subpackage imports only those,
through the subpackage's `__init__`: a module may move inside its subpackage without breaking anyone."""
import ast
import importlib
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'depthmaster_ros'
SUBPACKAGES = sorted(path.parent.name for path in PACKAGE.glob('*/__init__.py'))
# Importing these must not import torch: the core without a model stays light.
WITHOUT_TORCH = ('alignment', 'geometry', 'conversions', 'config')


def declared_names(package_dir: Path) -> list[str]:
    """`__all__` of a package's `__init__`, read without importing it."""
    for node in ast.parse((package_dir / '__init__.py').read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ''
    parts = list(path.relative_to(ROOT).with_suffix('').parts)   # 'a/b/__init__' or 'a/b/c': level 1 is a.b
    parts = parts[:len(parts) - node.level]
    return '.'.join(parts + ([node.module] if node.module else []))


def reaching_imports(path: Path) -> list[str]:
    """Imports in `path` that bypass a subpackage's `__init__` or take a name it does not declare. A nested
    package is public (`alignment.modes`); tests, benchmarks and tools may also take a module object from a
    subpackage (`from depthmaster_ros.alignment import cell_grid`) to patch or time that module's internals."""
    relative = path.relative_to(ROOT).parts
    own = relative[1] if relative[0] == 'depthmaster_ros' and len(relative) > 2 else None
    offenders = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split('.')
                if parts[0] == 'depthmaster_ros' and len(parts) > 2 and parts[1] != own:
                    offenders.append(f'{node.lineno}: import {alias.name}')
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node)
            parts = module.split('.')
            if parts[0] != 'depthmaster_ros' or len(parts) < 2 or parts[1] == own or parts[1] not in SUBPACKAGES:
                continue
            package_dir = PACKAGE.joinpath(*parts[1:])
            if not (package_dir / '__init__.py').exists():
                offenders.append(f'{node.lineno}: from {module} (a module, not the package)')
                continue
            undeclared = [alias.name for alias in node.names if alias.name not in declared_names(package_dir)
                          and not (package_dir / alias.name / '__init__.py').exists()
                          and not (relative[0] != 'depthmaster_ros' and (package_dir / f'{alias.name}.py').exists())]
            if undeclared:
                offenders.append(f'{node.lineno}: from {module} import {", ".join(undeclared)} (not in __all__)')
    return offenders


def test_every_subpackage_declares_its_public_names():
    assert not [name for name in SUBPACKAGES if not declared_names(PACKAGE / name)]


@pytest.mark.parametrize('folder', ['depthmaster_ros', 'test', 'benchmarks', 'tools'])
def test_code_outside_a_subpackage_imports_through_its_init(folder):
    offenders = {str(path.relative_to(ROOT)): found for path in sorted((ROOT / folder).rglob('*.py'))
                 if (found := reaching_imports(path))}
    assert not offenders


@pytest.mark.parametrize('subpackage', [*SUBPACKAGES, 'alignment.modes'])
def test_every_declared_name_resolves(subpackage):
    package = importlib.import_module(f'depthmaster_ros.{subpackage}')
    missing = []
    for name in package.__all__:
        try:
            getattr(package, name) if hasattr(package, name) else importlib.import_module(f'{package.__name__}.{name}')
        except (AttributeError, ImportError):
            missing.append(name)
    assert not missing


@pytest.mark.parametrize('subpackage', WITHOUT_TORCH)
def test_the_core_without_a_model_does_not_import_torch(subpackage):
    code = (f'import sys, depthmaster_ros.{subpackage}\n'
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'torch'))")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == '[]'
