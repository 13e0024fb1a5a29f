"""The backend registry: names in one place, declared options, loading through from_pretrained."""
import pytest

from depthmaster_ros.config import BY_NAME
from depthmaster_ros.model import BACKENDS, backend_names, from_pretrained, get_backend, load_estimator, parameter_options


def test_parameter_and_cli_choices_are_the_registered_backends():
    assert backend_names() == ('depthmaster', 'marigold')
    assert BY_NAME['backend'].choices == backend_names()


def test_backend_options_named_like_parameters_come_from_the_parameters():
    params = {name: spec.default for name, spec in BY_NAME.items()}
    assert parameter_options('marigold', params) == {'marigold_steps': 4, 'marigold_ensemble_size': 1}
    assert parameter_options('depthmaster', params) == {'compile': 'off'}
    for backend in BACKENDS.values():
        for option in backend.options:
            if option in BY_NAME:
                assert BY_NAME[option].description, option


def test_unknown_backend_names_the_choices():
    with pytest.raises(ValueError, match='backend: expected one of depthmaster, marigold'):
        get_backend('zoedepth')


def test_an_option_a_backend_does_not_declare_is_refused_before_loading(tiny_model_dir):
    with pytest.raises(ValueError, match='depthmaster backend: unknown option.*marigold_steps.*it accepts channels_last'):
        from_pretrained('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', marigold_steps=4)


def test_load_estimator_goes_through_the_registry(tiny_model_dir):
    estimator = load_estimator('depthmaster', str(tiny_model_dir), 'cpu', 'fp32', timing=False)
    assert estimator.backend == 'depthmaster' and estimator.space == 'sqrt_disparity'


def test_marigold_options_reach_the_estimator(tiny_marigold_dir):
    estimator = from_pretrained('marigold', str(tiny_marigold_dir), 'cpu', 'fp32', marigold_steps=2,
                                marigold_ensemble_size=3)
    assert (estimator.steps, estimator.ensemble_size) == (2, 3)


def test_each_backend_writes_a_tiny_model_that_it_loads(tmp_path):
    for name, backend in BACKENDS.items():
        directory = backend.tiny_function()(tmp_path / name, seed=0)
        assert from_pretrained(name, str(directory), 'cpu', 'fp32').backend == name


def test_compile_parameter_choices_are_eager_plus_the_estimators_torch_compile_modes():
    from depthmaster_ros.model import COMPILE_MODES
    assert BY_NAME['compile'].choices == ('off', *COMPILE_MODES)


def test_the_compile_parameter_reaches_the_estimator_and_off_means_eager(tiny_model_dir):
    import torch

    from depthmaster_ros.config import Config
    from depthmaster_ros.pipeline import load_configured_estimator

    def model_settings(compile_mode):
        return Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'compile': compile_mode}).model

    eager = load_configured_estimator(model_settings('off'))
    assert eager.compile is False and eager._unet_call is eager.unet
    compiled = load_configured_estimator(model_settings('reduce-overhead'))   # wrapped now, compiled on first use
    assert compiled.compile == 'reduce-overhead'
    assert isinstance(compiled._unet_call, torch._dynamo.eval_frame.OptimizedModule)
    assert isinstance(compiled._decoder, torch._dynamo.eval_frame.OptimizedModule)
