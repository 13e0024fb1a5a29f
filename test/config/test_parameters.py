"""The parameter table, the shipped YAML and the docs agree, and validation names the bad field."""
from pathlib import Path
import re

import pytest
import yaml

from depthmaster_ros.config import BY_NAME, PARAMETERS, Config, defaults, image_size, load_params_file, validate
from depthmaster_ros.config import table as parameters

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / 'config' / 'depthmaster.yaml'
NODE_DOC = ROOT / 'docs' / 'node.md'
TABLE_BEGIN, TABLE_END = '<!-- parameters:begin -->', '<!-- parameters:end -->'


def write_params(tmp_path, body):
    path = tmp_path / 'params.yaml'
    path.write_text(body)
    return path


def test_names_are_unique_and_defaults_validate():
    assert len(BY_NAME) == len(PARAMETERS)
    for spec in PARAMETERS:
        assert validate(spec.name, spec.default) == spec.default, spec.name
        assert spec.description.strip(), spec.name


def test_shipped_yaml_lists_every_parameter_with_its_default():
    document = yaml.safe_load(CONFIG.read_text())
    listed = document['/**']['ros__parameters']
    assert set(listed) == set(BY_NAME)
    for name, value in listed.items():
        assert validate(name, value) == BY_NAME[name].default, name
        if BY_NAME[name].type == parameters.DOUBLE:
            assert isinstance(value, float), f'{name}: write doubles with a decimal point for rclpy'
    assert load_params_file(CONFIG) == defaults()


def yaml_comment(spec):
    """The shipped YAML's comment of one parameter: its table description, choices or range, read-only."""
    text = spec.description
    if spec.choices:
        text += f' [{" | ".join(spec.choices)}]'
    elif spec.range is not None:
        text += f' [{spec.range[0]} .. {spec.range[1]}]'
    return text + ('' if spec.runtime else ' (read-only)')


def test_every_parameter_has_the_tables_description_as_its_comment_in_the_shipped_yaml():
    lines = CONFIG.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r'^\s{4}(\w+):', line)
        if match:
            block = []
            while lines[index - 1 - len(block)].strip().startswith('#') and \
                    not lines[index - 1 - len(block)].strip().startswith('# ---'):
                block.insert(0, lines[index - 1 - len(block)].strip().lstrip('#').strip())
            assert ' '.join(block) == yaml_comment(BY_NAME[match.group(1)]), match.group(1)


def test_node_doc_holds_the_generated_table_between_its_markers():
    text = NODE_DOC.read_text()
    assert text.count(TABLE_BEGIN) == 1 and text.count(TABLE_END) == 1, f'{NODE_DOC.name}: one pair of table markers'
    between = text.split(TABLE_BEGIN, 1)[1].split(TABLE_END, 1)[0]
    assert between.strip() == parameters.parameters_markdown_table().strip()


def test_markdown_table_has_one_row_per_parameter():
    rows = parameters.parameters_markdown_table().strip().splitlines()[2:]
    assert [re.match(r'\| `(\w+)`', row).group(1) for row in rows] == [spec.name for spec in PARAMETERS]


@pytest.mark.parametrize('name, value, fragment', [
    ('processing_res', 5000, 'processing_res'),
    ('processing_res', -1, 'processing_res'),
    ('processing_res', 512.0, 'integer'),
    ('alignment_mode', 'laser', 'one of'),
    ('max_depth', 'far', 'number'),
    ('max_depth', float('nan'), 'finite'),
    ('publish_cloud', 1, 'true or false'),
    ('lidar_to_camera', [0.0, 0.0, 0.0], '0 or 7 values'),
    ('no_such_parameter', 1, 'unknown parameter'),
    ('cameras', 'front', 'list of strings'),
    ('cameras', ['front', 3], 'list of strings'),
    ('cameras', ['front', 'front'], 'twice'),
    ('cameras', ['front camera'], 'not a ROS namespace'),
    ('cameras', ['2nd'], 'not a ROS namespace'),
    ('cameras', ['front/'], 'not a ROS namespace'),
    ('warm_up_sizes', ['640*480'], "not an image size 'WIDTHxHEIGHT'"),
    ('warm_up_sizes', ['0x480'], "not an image size 'WIDTHxHEIGHT'"),
    ('compile', 'fast', 'one of'),
])
def test_validate_rejects_with_the_parameter_name(name, value, fragment):
    with pytest.raises(ValueError) as error:
        validate(name, value)
    assert name in str(error.value) and fragment in str(error.value)


def test_validate_canonicalises_numbers():
    assert validate('max_depth', 50) == 50.0 and isinstance(validate('max_depth', 50), float)
    assert validate('lidar_to_camera', [0, 0, 0, 0, 0, 0, 1]) == [0.0] * 6 + [1.0]
    assert validate('lidar_to_camera', None) == []


def test_load_params_file_merges_sections_for_this_node(tmp_path):
    path = write_params(tmp_path, """
/**:
  ros__parameters:
    processing_res: 512
    use_sim_time: true
/robot/depthmaster_node:
  ros__parameters:
    alignment_mode: ground_plane
    max_depth: 30
other_node:
  ros__parameters:
    processing_res: 64
""")
    params = load_params_file(path)
    assert params['processing_res'] == 512
    assert params['alignment_mode'] == 'ground_plane'
    assert params['max_depth'] == 30.0
    assert params['model'] == BY_NAME['model'].default


@pytest.mark.parametrize('body, fragment', [
    ('/**:\n  ros__parameters:\n    procesing_res: 512\n', "unknown parameter 'procesing_res'"),
    ('/**:\n  ros__parameters:\n    min_depth: 5.0\n    max_depth: 4.0\n', 'min_depth'),
    ('other:\n  ros__parameters:\n    x: 1\n', 'no "/**" or "depthmaster_node" section'),
    ('/**:\n  processing_res: 512\n', 'ros__parameters'),
    ('/**: [1, 2\n', 'not valid YAML'),
])
def test_load_params_file_rejects_bad_files(tmp_path, body, fragment):
    with pytest.raises(ValueError) as error:
        load_params_file(write_params(tmp_path, body))
    assert fragment in str(error.value)
    assert 'params.yaml' in str(error.value)


def test_load_params_file_missing_file_names_it(tmp_path):
    with pytest.raises(ValueError, match='missing.yaml'):
        load_params_file(tmp_path / 'missing.yaml')


def test_model_parameters_are_read_only():
    for name in ('backend', 'model', 'device', 'dtype'):
        assert not BY_NAME[name].runtime
    for name in ('processing_res', 'alignment_mode'):
        assert BY_NAME[name].runtime


def test_string_arrays_validate_and_become_tuples_in_the_config():
    assert validate('cameras', ['front', '/robot/left', 'cams/rear_2']) == ['front', '/robot/left', 'cams/rear_2']
    assert validate('cameras', None) == []                # an empty YAML list reaches rclpy as "not set"
    config = Config.from_params({'cameras': ['front', 'left'], 'warm_up_sizes': ['640x480', '1280x720']})
    assert config.node.cameras == ('front', 'left') and config.model.warm_up_sizes == ('640x480', '1280x720')
    assert config.to_params()['cameras'] == ['front', 'left']
    assert Config.from_params(config.to_params()) == config
    assert image_size('1280x720') == (1280, 720)


def test_a_fixed_lidar_extrinsic_is_refused_with_several_cameras():
    fixed = {'lidar_to_camera': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], 'lidar_frame': 'lidar'}
    assert Config.from_params({**fixed, 'cameras': ['front']}).node.cameras == ('front',)
    with pytest.raises(ValueError, match="'lidar_to_camera' is one camera's extrinsic but 'cameras' names 2"):
        Config.from_params({**fixed, 'cameras': ['front', 'left']})
