"""The alignment-mode registry: every mode by name, in one place.

The parameter table takes its `alignment_mode` choices from here (on use), the pipeline asks the mode for
samples, the node subscribes to what the mode needs and the bag tool reads the topics it needs.
A new mode is one module with an `AlignmentMode` subclass decorated with `register(name, description,
**needs)`, and its name in `BUILT_IN` (which imports it and places it among the choices).
"""
from collections.abc import Callable
import importlib

from ..errors import AlignmentError, ModeRegistryError
from .base import AlignmentMode, FixedFit, ModeOutcome, NoSamples, SampleRequest, SparseSamples

# The modes of this package in the order the parameter lists them (the default first); each is the
# module of that name here, which registers the mode of that name. Modes registered from elsewhere follow.
BUILT_IN = ('lidar', 'ground_plane', 'fixed', 'none')

_MODES: dict[str, AlignmentMode] = {}


def register(name: str, description: str, **needs: bool) -> Callable[[type[AlignmentMode]], type[AlignmentMode]]:
    """Class decorator: the mode's name, a one-line description, and what it needs (see AlignmentMode)."""
    unknown = set(needs) - {'needs_cloud', 'needs_camera', 'needs_transforms', 'metric'}
    if unknown:
        raise AlignmentError(f'alignment mode {name!r}: unknown declaration(s) {", ".join(sorted(unknown))}')

    def add(cls: type[AlignmentMode]) -> type[AlignmentMode]:
        if name in _MODES:
            raise AlignmentError(f'alignment mode {name!r} is registered twice')
        cls.name, cls.description = name, description
        for key, value in needs.items():
            setattr(cls, key, value)
        _MODES[name] = cls()
        return cls
    return add


def get_mode(name: str) -> AlignmentMode:
    try:
        return _MODES[name]
    except KeyError:
        raise AlignmentError(f'alignment_mode: expected one of {", ".join(_MODES)}, got {name!r}') from None


def mode_names() -> tuple[str, ...]:
    """The registered modes: the built-in ones in their declared order, then any registered since."""
    return (*BUILT_IN, *(name for name in _MODES if name not in BUILT_IN))


def _register_built_in() -> None:
    for name in BUILT_IN:
        importlib.import_module(f'{__name__}.{name}')
        if name not in _MODES:
            raise ModeRegistryError(f'alignment mode module {__name__}.{name} registers no mode named {name!r}')


_register_built_in()

from .lidar import lidar_to_camera  # noqa: E402 - a mode module imports the registry above

__all__ = ['BUILT_IN', 'AlignmentMode', 'FixedFit', 'ModeOutcome', 'NoSamples', 'SampleRequest', 'SparseSamples',
           'get_mode', 'lidar_to_camera', 'mode_names', 'register']
