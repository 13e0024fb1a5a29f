"""The managed (lifecycle) variant of depthmaster_node, for launch systems such as nav2's lifecycle manager.

unconfigured --configure--> inactive: parameters read, model loaded (the slow step, done once)
inactive --activate--> active: subscriptions, publishers, diagnostics and the worker run
active --deactivate--> inactive: worker stopped, every subscription and publisher removed (no work)
inactive --cleanup--> unconfigured: the model is dropped and the GPU memory it held freed
"""
from typing import Any

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from depthmaster_ros.model import Estimator

from .frame_path import DepthFramePath
from .node import NODE_NAME


class DepthMasterLifecycleNode(DepthFramePath, LifecycleNode):
    """The same frame path as DepthMasterNode, run per lifecycle transition.

    estimator: an already loaded estimator used at every configure (tests, embedding); None loads the
    one the parameters name.
    """

    def __init__(self, estimator: Estimator | None = None, node_name: str = NODE_NAME, **node_kwargs: Any):
        super().__init__(node_name, **node_kwargs)
        self._init_frame_path()
        self._given_estimator = estimator
        self.get_logger().info('unconfigured: waiting for the configure transition')

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        from depthmaster_ros.model import ModelLoadError
        try:
            self._configure(self._given_estimator)
        except (ModelLoadError, ValueError) as error:
            self.get_logger().error(f'configure failed: {error}')
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f'configured: {self.config.model.backend} model loaded')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activate()
        self.get_logger().info('active: subscribing and publishing')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self.get_logger().info('inactive: no subscriptions, no inference')
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._deactivate()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        if self._active:
            self._deactivate()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        self.stop_worker()
        super().destroy_node()
