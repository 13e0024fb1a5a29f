"""The errors of `depthmaster_ros.bag`, all `DepthmasterError`s (see depthmaster_ros/errors.py)."""
from ..errors import DepthmasterError


class BagError(DepthmasterError, ValueError):
    """A bag, a topic or a bag option that cannot be used."""


class TopicSelectionError(BagError):
    """The bag does not say unambiguously which topic to use."""


class BagFileError(DepthmasterError, OSError):
    """A file the bag tool needs cannot be read or written."""
