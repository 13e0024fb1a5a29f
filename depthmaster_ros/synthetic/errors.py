"""The errors of `depthmaster_ros.synthetic`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class SyntheticError(DepthmasterError, ValueError):
    """A scene or sample-bag setting that cannot be used."""
