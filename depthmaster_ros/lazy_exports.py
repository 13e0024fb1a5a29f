"""Public names of a subpackage resolved on first use (PEP 562), for an `__init__` whose modules are heavy.

A subpackage lists `{module: names}`; `from depthmaster_ros.model import write_tiny_model` then imports
`model/tiny.py` (and torch) only at that moment, so `import depthmaster_ros.model` stays cheap.
"""
from collections.abc import Callable, Mapping
import importlib


def lazy_attributes(package: str, exports: Mapping[str, tuple[str, ...]]) -> Callable[[str], object]:
    """A module-level `__getattr__` for `package` that imports the module defining a requested name."""
    module_of = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in module_of:
            raise AttributeError(f'module {package!r} has no attribute {name!r}')
        return getattr(importlib.import_module(f'{package}.{module_of[name]}'), name)
    return __getattr__
