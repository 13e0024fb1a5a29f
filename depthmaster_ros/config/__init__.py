"""The node's parameters: one table, and the typed configuration built from it at the edges."""
from . import table
from .errors import ConfigError
from .params_file import load_params_file
from .settings import GROUPS, AlignmentSettings, Config, ModelSettings, NavigationSettings, OutputSettings, group_fields
from .table import BY_NAME, PARAMETERS, defaults, image_size, validate

__all__ = ['AlignmentSettings', 'BY_NAME', 'Config', 'ConfigError', 'GROUPS', 'ModelSettings', 'NavigationSettings',
           'OutputSettings', 'PARAMETERS', 'defaults', 'group_fields', 'image_size', 'load_params_file', 'table',
           'validate']
