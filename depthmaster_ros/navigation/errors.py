"""The errors of `depthmaster_ros.navigation`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class NavigationError(DepthmasterError, ValueError):
    """A scan or obstacle setting, or a depth map, that cannot be used."""
