"""Subcommands of the `depthmaster-ros` console entry point (see depthmaster_ros.cli)."""
from .errors import CommandError
from .interrupt import StopOnSigint
from .node import ros_argv

__all__ = ['CommandError', 'StopOnSigint', 'ros_argv']
