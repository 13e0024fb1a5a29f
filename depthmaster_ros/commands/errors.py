"""The errors of `depthmaster_ros.commands`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class CommandError(DepthmasterError, ValueError):
    """A command-line option that cannot be used."""
