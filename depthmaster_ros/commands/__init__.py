"""Subcommands of the `depthmaster-ros` console entry point (see depthmaster_ros.cli)."""
