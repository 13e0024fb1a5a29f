"""The errors of `depthmaster_ros.finetune`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class FinetuneError(DepthmasterError, ValueError):
    """A fine-tuning option, input or run that cannot be used."""
