"""The errors of `depthmaster_ros.evaluation`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class EvaluationError(DepthmasterError, ValueError):
    """A dataset, split, prediction folder or evaluation option that cannot be used."""
