"""The package keeps the shape a newcomer can read: few top-level modules, short modules, ROS and
rosbags behind their adapters, typed public functions, and tests that do not import each other."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'depthmaster_ros'
ROS_PACKAGES = {'rclpy', 'rcl_interfaces', 'builtin_interfaces', 'std_msgs', 'sensor_msgs', 'geometry_msgs',
                'diagnostic_msgs', 'tf2_msgs', 'depthmaster_interfaces'}
CORE = ('alignment', 'geometry', 'conversions', 'pipeline', 'config', 'model', 'bag', 'synthetic', 'fleet', 'evaluation',
        'navigation')


def modules(folder=PACKAGE):
    return sorted(folder.rglob('*.py'))


def imported_roots(path):
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split('.')[0])
    return roots


def test_at_most_five_modules_at_the_top_of_the_package():
    top = sorted(path.name for path in PACKAGE.glob('*.py'))
    assert len(top) <= 5, top


def test_no_module_is_over_450_lines():
    long = {str(path.relative_to(ROOT)): n for path in modules() if (n := len(path.read_text().splitlines())) > 450}
    assert not long


def test_only_the_ros_adapter_imports_rclpy_and_messages():
    offenders = {str(path.relative_to(ROOT)): sorted(imported_roots(path) & ROS_PACKAGES)
                 for path in modules() if path.parent.name != 'ros'}
    assert not {name: roots for name, roots in offenders.items() if roots}


def test_only_the_bag_adapter_imports_rosbags():
    offenders = [str(path.relative_to(ROOT)) for path in modules()
                 if 'rosbags' in imported_roots(path) and path.parent.name != 'bag']
    assert not offenders


def _untyped_public_functions(path):
    missing = []

    def visit(node, prefix, public):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f'{prefix}{child.name}.', public and not child.name.startswith('_'))
            elif isinstance(child, ast.FunctionDef) and public and (not child.name.startswith('_')
                                                                     or child.name == '__init__'):
                args = child.args.posonlyargs + child.args.args + child.args.kwonlyargs
                bare = [a.arg for a in args if a.annotation is None and a.arg not in ('self', 'cls')]
                bare += [f'*{a.arg}' for a in (child.args.vararg, child.args.kwarg) if a and a.annotation is None]
                if child.returns is None and child.name != '__init__':
                    bare.append('return')
                if bare:
                    missing.append(f'{prefix}{child.name} ({", ".join(bare)})')
    visit(ast.parse(path.read_text()), '', True)
    return missing


@pytest.mark.parametrize('subpackage', CORE)
def test_public_functions_of_the_core_are_typed(subpackage):
    missing = {str(path.relative_to(ROOT)): names for path in modules(PACKAGE / subpackage)
               if (names := _untyped_public_functions(path))}
    assert not missing


def test_no_test_module_imports_another():
    tests = {path.stem for path in (ROOT / 'test').rglob('test_*.py')}
    offenders = {str(path.relative_to(ROOT)): sorted(imported_roots(path) & tests)
                 for path in (ROOT / 'test').rglob('*.py')}
    assert not {name: roots for name, roots in offenders.items() if roots}
