"""The errors of `depthmaster_ros.fleet`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class FleetError(DepthmasterError, ValueError):
    """A batch option or output folder that cannot be used."""


class FleetStateError(DepthmasterError, RuntimeError):
    """An executor used out of order."""


class WorkerStartError(DepthmasterError, RuntimeError):
    """An actor could not load the model: every bag would fail the same way, so the batch stops."""
