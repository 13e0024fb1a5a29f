"""The errors of `depthmaster_ros.pipeline`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class PipelineError(DepthmasterError, ValueError):
    """A frame or a pipeline setting that cannot be used."""
