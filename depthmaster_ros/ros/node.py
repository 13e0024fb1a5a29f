"""depthmaster_node: the rclpy adapter over the ROS-free pipeline, active from construction.

The frame path (callbacks, camera_info pairing, worker, diagnostics) is `frame_path.DepthFramePath`;
this plain node configures and activates it at once. `lifecycle_node.DepthMasterLifecycleNode` runs
the same steps per lifecycle transition.
"""
from typing import Any

from rclpy.node import Node

from depthmaster_ros.model import Estimator

from .frame_path import DepthFramePath

NODE_NAME = 'depthmaster_node'


class DepthMasterNode(DepthFramePath, Node):
    """Subscribes image (+camera_info, points, /tf), publishes depth, cloud, alignment, diagnostics.

    estimator: an already loaded estimator (tests, embedding); None loads the one the parameters name.
    """

    def __init__(self, estimator: Estimator | None = None, node_name: str = NODE_NAME, **node_kwargs: Any):
        super().__init__(node_name, **node_kwargs)
        self._init_frame_path()
        self._configure(estimator)
        self._activate()
        config = self.config
        self.get_logger().info(f'ready: {config.input.image_transport} images, alignment '
                               f'{config.alignment.alignment_mode}, processing_res {config.model.processing_res}')

    def destroy_node(self) -> None:
        self.stop_worker()
        super().destroy_node()
