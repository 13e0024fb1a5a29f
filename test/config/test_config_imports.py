"""The configuration names its choices without importing the registries that own them."""
import json
import subprocess
import sys

from depthmaster_ros.alignment.modes import BUILT_IN, mode_names
from depthmaster_ros.config import BY_NAME
from depthmaster_ros.model import backend_names, compile_choices

_IMPORT_CONFIG = '''
import json, sys
import depthmaster_ros.config.params_file, depthmaster_ros.config.settings, depthmaster_ros.config.table
heavy = sorted({name.split('.')[0] for name in sys.modules if name.split('.')[0] in ('numpy', 'torch')}
               | {name for name in sys.modules if name.startswith(('depthmaster_ros.alignment', 'depthmaster_ros.model'))})
print(json.dumps(heavy))
'''


def test_importing_the_configuration_imports_no_registry_numpy_or_torch():
    completed = subprocess.run([sys.executable, '-c', _IMPORT_CONFIG], capture_output=True, text=True, timeout=120,
                               check=True)
    assert json.loads(completed.stdout) == []


def test_choices_are_the_registries_names_in_their_declared_order():
    assert BY_NAME['alignment_mode'].choices == mode_names()
    assert mode_names()[:len(BUILT_IN)] == BUILT_IN
    assert BY_NAME['alignment_mode'].default == BUILT_IN[0]
    assert BY_NAME['backend'].choices == backend_names()
    assert BY_NAME['compile'].choices == compile_choices()
