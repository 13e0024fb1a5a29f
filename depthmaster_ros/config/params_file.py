"""Reading the node's ROS 2 params YAML without rclpy, so the bag tool and the CLI use the node's own file."""

import os

import yaml

from .errors import ConfigError
from .table import ROS_OWNED, ParameterValue, defaults, validate_all


def load_params_file(path: str | os.PathLike[str], node_name: str = 'depthmaster_node') -> dict[str, ParameterValue]:
    """Read a ROS 2 params YAML (the node's own file) into a full, validated dict of every parameter.

    Sections apply in file order when their key is ``/**``, ``node_name`` or a namespaced
    ``.../node_name``; wildcard sections and other nodes' sections are otherwise ignored.
    """
    try:
        with open(path, encoding='utf-8') as stream:
            document = yaml.safe_load(stream)
    except OSError as error:
        raise ConfigError(f'params file {path}: cannot read it ({error.strerror})') from error
    except yaml.YAMLError as error:
        raise ConfigError(f'params file {path}: not valid YAML ({error})') from error
    if not isinstance(document, dict):
        raise ConfigError(f'params file {path}: top level must be a mapping of node names')
    params = {}
    found = False
    for key, section in document.items():
        if not _section_applies(str(key), node_name):
            continue
        if not isinstance(section, dict) or not isinstance(section.get('ros__parameters'), dict):
            raise ConfigError(f'params file {path}: section {key!r} needs a ros__parameters mapping')
        found = True
        for name, value in section['ros__parameters'].items():
            if name not in ROS_OWNED:
                params[name] = value
    if not found:
        raise ConfigError(f'params file {path}: no "/**" or "{node_name}" section with ros__parameters')
    try:
        checked = validate_all(params)
    except ValueError as error:
        raise ConfigError(f'params file {path}: {error}') from error
    return {**defaults(), **checked}


def _section_applies(key: str, node_name: str) -> bool:
    key = key.strip()
    return key in ('/**', '**') or key.lstrip('/') == node_name or key.endswith('/' + node_name)
