"""The message builders' contract: what the rclpy and the rosbags builders both provide.

`pipeline.outputs.frame_messages` builds a frame's messages through this protocol, so the node and the
bag tool produce the same messages from the same values; `depthmaster_ros.ros.messages` (rclpy) and
`depthmaster_ros.bag.messages` (rosbags) are the two implementations (modules, checked by mypy).
"""
from typing import Any, Protocol

import numpy as np


class MessageBuilders(Protocol):
    def image_msg(self, pixels: np.ndarray, encoding: str, header: Any) -> Any: ...

    def camera_info_msg(self, fields: dict, header: Any) -> Any: ...

    def cloud_msg(self, cloud: Any, header: Any) -> Any: ...

    def alignment_msg(self, record: Any, header: Any) -> Any: ...

    def scan_msg(self, scan: Any, header: Any) -> Any: ...

    def header_in(self, header: Any, frame_id: str) -> Any: ...
