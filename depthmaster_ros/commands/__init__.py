"""Subcommands of the `depthmaster-ros` console entry point (see depthmaster_ros.cli)."""
from .errors import CommandError
from .node import ros_argv

__all__ = ['CommandError', 'ros_argv']
