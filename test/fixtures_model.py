"""Fixtures for tests that need a model (tiny, random weights, written to disk).

torch and diffusers are imported inside the fixtures so that tests which never ask for a model
do not pay for them.
"""
import shutil

import pytest


@pytest.fixture(scope='session')
def tiny_model_dir(tmp_path_factory):
    """A tiny DepthMaster checkpoint in the official layout (written once per session)."""
    from depthmaster_ros.model.tiny import write_tiny_model
    return write_tiny_model(tmp_path_factory.mktemp('tiny_depthmaster') / 'model', seed=0)


@pytest.fixture(scope='session')
def tiny_marigold_dir(tmp_path_factory):
    """A tiny Marigold depth checkpoint as saved by diffusers' MarigoldDepthPipeline."""
    from depthmaster_ros.model.tiny import write_tiny_marigold
    return write_tiny_marigold(tmp_path_factory.mktemp('tiny_marigold') / 'model', seed=0)


@pytest.fixture(scope='session')
def tiny_estimator(tiny_model_dir):
    """The tiny DepthMaster model loaded through load_estimator (cpu, fp32), shared by the session."""
    from depthmaster_ros.model import load_estimator
    return load_estimator(backend='depthmaster', model=str(tiny_model_dir), device='cpu', dtype='fp32')


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    """A private copy of the tiny model that a test may damage."""
    target = tmp_path / 'model'
    shutil.copytree(tiny_model_dir, target)
    return target
