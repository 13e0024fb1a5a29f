"""The alignment-mode registry: every mode by name, in one place.

The parameter table takes its `alignment_mode` choices from here, the pipeline asks the mode for
samples, the node subscribes to what the mode needs and the bag tool reads the topics it needs.
A new mode is one module with an `AlignmentMode` subclass decorated with `register`, imported below.
"""
from .base import AlignmentMode, FixedFit, ModeOutcome, NoSamples, SampleRequest, SparseSamples

_MODES: dict[str, AlignmentMode] = {}


def register(cls: type[AlignmentMode]) -> type[AlignmentMode]:
    if cls.name in _MODES:
        raise ValueError(f'alignment mode {cls.name!r} is registered twice')
    _MODES[cls.name] = cls()
    return cls


def get_mode(name: str) -> AlignmentMode:
    try:
        return _MODES[name]
    except KeyError:
        raise ValueError(f'alignment_mode: expected one of {", ".join(_MODES)}, got {name!r}') from None


def mode_names() -> tuple[str, ...]:
    return tuple(_MODES)


from . import lidar, ground_plane, fixed, none  # noqa: E402,F401  (registration, in the table's order)

__all__ = ['AlignmentMode', 'FixedFit', 'ModeOutcome', 'NoSamples', 'SampleRequest', 'SparseSamples',
           'get_mode', 'mode_names', 'register']
