"""The errors of `depthmaster_ros.finetune`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class FinetuneError(DepthmasterError, ValueError):
    """Fine-tuning inputs, data, settings or a run that cannot be used."""
