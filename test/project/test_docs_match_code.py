"""Docs and help that state what the code does are checked against the code, so they cannot drift:
input encodings, camera_info of another size, the bag tool's flags, batch's flags, the outputs' QoS
history and the README's venv commands."""
import argparse
import pathlib
import re

import pytest

from depthmaster_ros import InputError
from depthmaster_ros.conversions import ENCODINGS, RGB_SOURCES
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.pipeline import camera_for_image

ROOT = pathlib.Path(__file__).resolve().parents[2]
NODE_DOC = (ROOT / 'docs' / 'node.md').read_text()


def parser_of(command):
    from depthmaster_ros.cli import build_parser
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]


def flags(parser):
    return {flag for action in parser._actions for flag in action.option_strings if flag not in ('-h', '--help')}


def test_node_doc_lists_the_image_encodings_the_code_takes_and_those_it_refuses():
    row = next(line for line in NODE_DOC.splitlines() if line.startswith('| in | `image` |'))
    taken, refused = row.split('Refused', 1)
    assert re.findall(r'[\w]+(?=[,\s(])', taken.split('raw`;', 1)[1].split('(', 1)[0]) == list(RGB_SOURCES)
    assert set(re.findall(r'\b\d+[A-Z]C\d\b', refused)) == set(ENCODINGS) - set(RGB_SOURCES)


def test_node_doc_never_says_camera_info_of_another_size_is_scaled():
    with pytest.raises(InputError, match='never applied'):
        camera_for_image(CameraModel.pinhole(100, 100, 80.0), 128, 96)     # what the code does
    text = ' '.join(NODE_DOC.split())
    mentions = re.findall(r'camera_info of another size[^.]*', text)
    assert mentions and all('never' in mention for mention in mentions), mentions
    assert 'scaled when' not in text


def test_bag_tool_doc_lists_every_flag_of_the_bag_command():
    table = (ROOT / 'docs' / 'bag_tool.md').read_text().split('| group | flag | meaning |', 1)[1].split('\n\n', 1)[0]
    documented = set(re.findall(r'`(-{1,2}[\w-]+)', table))
    assert flags(parser_of('bag')) == documented


def test_batch_offers_only_the_flags_it_accepts():
    batch = flags(parser_of('batch'))
    assert '--contact-sheet' not in batch and '--contact-sheet-rows' not in batch
    assert flags(parser_of('bag')) - {'--contact-sheet', '--contact-sheet-rows'} <= batch


def test_node_doc_states_the_outputs_history_depth():
    from depthmaster_ros.ros import OUTPUT_HISTORY_DEPTH
    assert f'| all outputs | `output_reliability` (default **reliable**) | volatile | keep last {OUTPUT_HISTORY_DEPTH} |' \
        in NODE_DOC


def test_readme_venv_commands_set_a_profile_that_exists_and_remap_camera_info():
    readme = (ROOT / 'README.md').read_text()
    venv = readme.split('## Quick start without a ROS distro (venv)', 1)[1].split('\n## ', 1)[0]
    profile = re.search(r'export FASTDDS_DEFAULT_PROFILES_FILE=\$PWD/(\S+)', venv)
    assert profile and (ROOT / profile.group(1)).is_file()              # the venv install is editable: ROOT is it
    assert '-r image:=' in venv and '-r camera_info:=' in venv
    assert 'export HF_HOME=$PWD/.cache/huggingface' in venv           # the cache `make` fills
    assert 'export HF_HOME := $(CURDIR)/.cache/huggingface' in (ROOT / 'Makefile').read_text()
