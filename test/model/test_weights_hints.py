"""The model load errors give commands that work with what is installed: huggingface_hub's `hf` CLI, and
how to hand the directory to the node (`-p model:=DIR`) and the tools (`--model DIR`)."""
from pathlib import Path
import sys

import pytest

from depthmaster_ros.model import ModelLoadError, check_layout, resolve_model_directory

PACKAGE = Path(__file__).resolve().parents[2] / 'depthmaster_ros'


def test_the_download_command_named_is_the_installed_cli():
    assert Path(sys.executable).with_name('hf').exists()
    assert not any('huggingface-cli' in path.read_text() for path in PACKAGE.rglob('*.py'))


def test_a_hub_id_not_in_the_cache_names_the_cache_the_command_and_how_to_pass_the_directory():
    from huggingface_hub import constants
    with pytest.raises(ModelLoadError) as error:
        resolve_model_directory('nobody-here/no-such-depth-model')       # the tests run with HF_HUB_OFFLINE=1
    message = str(error.value)
    assert 'hf download nobody-here/no-such-depth-model --local-dir DIR' in message
    assert '-p model:=DIR' in message and '--model DIR' in message
    assert str(constants.HF_HUB_CACHE) in message and 'HF_HOME' in message


def test_a_damaged_directory_says_how_to_get_and_pass_a_good_one(tmp_path):
    with pytest.raises(ModelLoadError) as error:
        check_layout(tmp_path, ('unet',))
    message = str(error.value)
    assert 'hf download zysong212/DepthMaster --local-dir DIR' in message
    assert '-p model:=DIR' in message and '--model DIR' in message
