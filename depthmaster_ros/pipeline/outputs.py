"""Which messages one processed frame produces: one rule for the node and the bag tool.

The node publishes them and the bag tool writes them, so both must agree on what is output when
(depth only with a valid alignment, optional millimetres, relative, confidence and cloud; the
navigation outputs only with the depth, each in its own frame at the image stamp). The
message builders are passed in: `depthmaster_ros.ros.messages` (rclpy) and
`depthmaster_ros.bag.messages` (rosbags) have the same functions.
"""
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from depthmaster_ros.config import OutputSettings
from depthmaster_ros.conversions import MessageBuilders, xyz_cloud_fields

from .frames import FrameOutput

# Output name -> topic, relative to the node's (or the output bag's) namespace.
OUTPUT_TOPICS = {
    'depth': 'depth/image',
    'depth_mm': 'depth/image_mm',
    'camera_info': 'depth/camera_info',
    'relative': 'depth/relative',
    'confidence': 'depth/confidence',
    'points': 'depth/points',
    'alignment': 'depth/alignment',
    'scan': 'depth/scan',
    'obstacles': 'depth/obstacles',
}


@dataclass
class FrameMessages:
    messages: list[tuple[str, Any]] = field(default_factory=list)   # (output name, message), in publish order
    cloud_withheld: int = 0                         # points of a cloud not output (above cloud_max_points)


def frame_messages(output: FrameOutput, header: Any, settings: OutputSettings,
                   builders: MessageBuilders) -> FrameMessages:
    """The messages of one frame, stamped with the source image's header."""
    result = FrameMessages()
    add = result.messages.append
    # small messages before large images: one written right behind a 1.2 MB image was often lost over
    # default Fast DDS (docs/node.md#qos)
    if output.camera is not None:
        add(('camera_info', builders.camera_info_msg(output.camera.to_camera_info_fields(), header)))
    if output.depth_m is not None and output.camera is not None:     # metres only with their camera_info
        add(('depth', builders.image_msg(output.depth_m, '32FC1', header)))
        if settings.publish_depth_mm:
            add(('depth_mm', builders.image_msg(depth_to_millimetres(output.depth_m), '16UC1', header)))
    if settings.publish_relative and output.relative is not None:
        add(('relative', builders.image_msg(output.relative, '32FC1', header)))
    if settings.publish_confidence and output.confidence is not None:
        add(('confidence', builders.image_msg(output.confidence, '32FC1', header)))
    if settings.publish_cloud and output.points is not None:
        count = output.points.size // 3
        if count > settings.cloud_max_points:
            result.cloud_withheld = count
        else:
            add(('points', builders.cloud_msg(xyz_cloud_fields(output.points, output.colors), header)))
    navigation = output.navigation
    if output.depth_m is not None and navigation is not None:
        if navigation.scan is not None and not navigation.merged:
            add(('scan', builders.scan_msg(navigation.scan, builders.header_in(header, navigation.scan_frame))))
        if navigation.obstacles is not None:
            add(('obstacles', builders.cloud_msg(xyz_cloud_fields(navigation.obstacles),
                                                 builders.header_in(header, navigation.obstacle_frame))))
    add(('alignment', builders.alignment_msg(output.record, header)))
    return result


def depth_to_millimetres(depth_m: np.ndarray) -> np.ndarray:
    """REP 118 16UC1: millimetres, 0 where invalid or beyond the uint16 range."""
    with np.errstate(invalid='ignore'):
        millimetres = np.round(np.nan_to_num(np.asarray(depth_m, np.float64), nan=0.0) * 1000.0)
        millimetres[(millimetres < 0) | (millimetres > 65535)] = 0
    return millimetres.astype(np.uint16)
