"""The errors of `depthmaster_ros.config`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class ConfigError(DepthmasterError, ValueError):
    """A parameter or a parameters file that cannot be used."""
