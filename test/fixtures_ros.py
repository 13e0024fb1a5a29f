"""Fixtures for tests that use real rclpy over real DDS."""
import time

import pytest


@pytest.fixture
def ros_context():
    """A fresh rclpy context per test, shut down afterwards."""
    import rclpy
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        if context.ok():
            rclpy.shutdown(context=context)


@pytest.fixture
def ros_executor(ros_context):
    """A single-threaded executor on the test's context; nodes added to it are destroyed after."""
    from rclpy.executors import SingleThreadedExecutor
    executor = SingleThreadedExecutor(context=ros_context)
    yield executor
    for node in list(executor.get_nodes()):
        executor.remove_node(node)
        node.destroy_node()
    executor.shutdown()


def spin_until(executor, predicate, timeout_s=10.0, step_s=0.02):
    """Spin until predicate() is true; returns its last value (falsy on timeout)."""
    deadline = time.monotonic() + timeout_s
    result = predicate()
    while not result and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=step_s)
        result = predicate()
    return result
