"""The alignment-mode registry: every mode by name, in one place.

The parameter table takes its `alignment_mode` choices from here, the pipeline asks the mode for
samples, the node subscribes to what the mode needs and the bag tool reads the topics it needs.
A new mode is one module with an `AlignmentMode` subclass decorated with `register(name, description,
**needs)`, imported below.
"""
from collections.abc import Callable

from .base import AlignmentMode, FixedFit, ModeOutcome, NoSamples, SampleRequest, SparseSamples

_MODES: dict[str, AlignmentMode] = {}


def register(name: str, description: str, **needs: bool) -> Callable[[type[AlignmentMode]], type[AlignmentMode]]:
    """Class decorator: the mode's name, a one-line description, and what it needs (see AlignmentMode)."""
    unknown = set(needs) - {'needs_cloud', 'needs_camera', 'needs_transforms', 'metric'}
    if unknown:
        raise ValueError(f'alignment mode {name!r}: unknown declaration(s) {", ".join(sorted(unknown))}')

    def add(cls: type[AlignmentMode]) -> type[AlignmentMode]:
        if name in _MODES:
            raise ValueError(f'alignment mode {name!r} is registered twice')
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
        raise ValueError(f'alignment_mode: expected one of {", ".join(_MODES)}, got {name!r}') from None


def mode_names() -> tuple[str, ...]:
    return tuple(_MODES)


# Registration, in the order the parameter table lists the choices (the default first).
# isort: off
from . import lidar, ground_plane, fixed, none  # noqa: E402,F401
# isort: on

__all__ = ['AlignmentMode', 'FixedFit', 'ModeOutcome', 'NoSamples', 'SampleRequest', 'SparseSamples',
           'get_mode', 'mode_names', 'register']
