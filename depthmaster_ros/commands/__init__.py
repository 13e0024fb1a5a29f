"""Subcommands of the `depthmaster-ros` console entry point (see depthmaster_ros.cli)."""
from .node import ros_argv

__all__ = ['ros_argv']
