"""The errors of `depthmaster_ros.alignment`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class AlignmentError(DepthmasterError, ValueError):
    """A fit, a mode or its inputs that cannot be used."""


class ModeRegistryError(DepthmasterError, ImportError):
    """An alignment mode module that does not register the mode it is named for."""
