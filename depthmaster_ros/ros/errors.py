"""The errors of `depthmaster_ros.ros`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class NodeSettingError(DepthmasterError, ValueError):
    """A node setting that cannot be used."""
