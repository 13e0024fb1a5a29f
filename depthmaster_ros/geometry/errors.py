"""The errors of `depthmaster_ros.geometry`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class GeometryError(DepthmasterError, ValueError):
    """An array, camera or transform that cannot be used."""


class TransformLookupError(DepthmasterError, LookupError):
    """A transform the frame tree cannot give at the asked stamp."""
