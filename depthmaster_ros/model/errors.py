"""The errors of `depthmaster_ros.model`, all `DepthmasterError`s (torch-free, so callers can catch them cheaply)."""
from ..errors import DepthmasterError


class ModelError(DepthmasterError, ValueError):
    """A model option or an input to the estimator that cannot be used."""


class ModelLoadError(DepthmasterError, RuntimeError):
    """A model directory or hub id that cannot be used; the message names the file and the fix."""


class ModelStateError(DepthmasterError, RuntimeError):
    """An estimator part used out of order."""
