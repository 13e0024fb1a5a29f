"""The spaces a model predicts in, defined once: their names, the one check, and the map to and from metres.

A model predicts f(depth) up to an unknown scale and shift; f is the space's transform (depth: d,
disparity: 1/d, sqrt_disparity: sqrt(1/d)). `Space` is a str enum so records, messages and YAML keep
the plain strings; its members hash and print as those strings, so either form finds the same entry.
"""
from collections.abc import Callable
from enum import Enum

import numpy as np

from depthmaster_ros.geometry import float64_array

from .errors import AlignmentError


class Space(str, Enum):  # noqa: UP042 - StrEnum is Python 3.11+, the package runs on 3.10
    DEPTH = 'depth'                     # affine-invariant depth, 0 = near (Marigold)
    DISPARITY = 'disparity'             # affine-invariant 1/depth (no backend yet; alignment accepts it)
    SQRT_DISPARITY = 'sqrt_disparity'   # affine-invariant sqrt(1/depth), 1 = near (DepthMaster)

    def __str__(self) -> str:
        return self.value

    def __hash__(self) -> int:
        return hash(self.value)


def check_space(space: object) -> Space:
    """The Space named by `space` (a member or its string), or a ValueError listing the spaces."""
    try:
        return Space(space)
    except ValueError:
        raise AlignmentError(f'space: expected one of {tuple(s.value for s in Space)}, got {space!r}') from None


# Each space as (forward, inverse) on positive values: metres -> space values, and back.
_Map = Callable[[np.ndarray], np.ndarray]
_TRANSFORMS: dict[Space, tuple[_Map, _Map]] = {
    Space.DEPTH: (lambda d: d, lambda v: v),
    Space.DISPARITY: (lambda d: 1.0 / d, lambda v: 1.0 / v),
    Space.SQRT_DISPARITY: (lambda d: np.sqrt(1.0 / d), lambda v: 1.0 / (v * v)),
}


def _transform(raw: object, space: object, field: str, inverse: bool) -> np.ndarray:
    """One table-driven map between metres and a space: NaN wherever input or output is not positive and finite."""
    transform = _TRANSFORMS[check_space(space)][int(inverse)]
    values: np.ndarray = float64_array(raw, field)
    with np.errstate(invalid='ignore', divide='ignore', over='ignore'):
        out = transform(values)       # where the input is not valid, NaN below
        valid = (values > 0) & (values < np.inf) & (out > 0) & (out < np.inf)
    return np.where(valid, out, np.nan)


def to_space(depth_m: object, space: object) -> np.ndarray:
    """Metres -> space values; NaN where the depth is not positive and finite."""
    return _transform(depth_m, space, 'depth_m', inverse=False)


def from_space(values: object, space: object) -> np.ndarray:
    """Space values -> metres; NaN where the inverse is not positive and finite."""
    return _transform(values, space, 'values', inverse=True)
