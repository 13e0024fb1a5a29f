"""The typed configuration holds exactly the parameter table, grouped, validated and round-tripped."""
import dataclasses

import pytest

from depthmaster_ros.config import GROUPS, PARAMETERS, Config, defaults, group_fields


def test_each_group_holds_exactly_the_tables_parameters_of_that_group():
    by_group = {group: tuple(spec.name for spec in PARAMETERS if spec.group == group) for group in GROUPS}
    assert group_fields() == by_group
    assert all(spec.group in GROUPS for spec in PARAMETERS)


def test_defaults_come_from_the_table_and_round_trip():
    config = Config.from_params({})
    assert config.to_params() == defaults()
    assert Config.from_params(config.to_params()) == config
    assert config.alignment.lidar_to_camera == ()
    assert config.model.processing_res == 768


def test_settings_are_frozen():
    config = Config.from_params({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.processing_res = 1          # type: ignore[misc]


def test_replace_validates_together_with_the_rest():
    config = Config.from_params({'max_depth': 20.0})
    changed = config.replace(min_depth=1.5, alignment_mode='ground_plane')
    assert (changed.alignment.min_depth, changed.alignment.alignment_mode) == (1.5, 'ground_plane')
    assert config.alignment.min_depth == 0.1                      # the original is untouched
    with pytest.raises(ValueError, match='min_depth .* must be below max_depth'):
        config.replace(min_depth=30.0)


@pytest.mark.parametrize('params, fragment', [
    ({'processing_res': -1}, "'processing_res' must be in"),
    ({'alignment_mode': 'sonar'}, "'alignment_mode' must be one of lidar, ground_plane, fixed, none"),
    ({'backend': 'zoedepth'}, "'backend' must be one of depthmaster, marigold"),
    ({'no_such_parameter': 1}, "unknown parameter 'no_such_parameter'"),
    ({'lidar_to_camera': [1.0, 2.0]}, "'lidar_to_camera' must have 0 or 7 values"),
])
def test_bad_values_are_refused_naming_the_parameter(params, fragment):
    with pytest.raises(ValueError, match=fragment):
        Config.from_params(params)


def test_integer_yaml_values_for_doubles_become_floats():
    config = Config.from_params({'max_depth': 80, 'lidar_to_camera': [0, 0, 0, 0, 0, 0, 1], 'lidar_frame': 'lidar'})
    assert isinstance(config.alignment.max_depth, float)
    assert config.alignment.lidar_to_camera == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
