"""Fixtures for the fine-tuning tests: one local Ray instance per module, started the way `batch` starts one."""
import contextlib

import pytest


@pytest.fixture(scope='module')
def local_ray():
    """A local Ray instance with two CPUs (loopback only, no dashboard) for the module's Ray tests."""
    ray = pytest.importorskip('ray')
    from depthmaster_ros.fleet import connect_ray
    if ray.is_initialized():
        ray.shutdown()
    with contextlib.ExitStack() as environment:
        connect_ray(None, 2, False, environment)
        yield ray
        ray.shutdown()
