"""The errors of `depthmaster_ros.conversions`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class ConversionError(DepthmasterError, ValueError):
    """A message field that cannot be converted."""
