"""Which messages one processed frame produces: one rule for the node and the bag tool.

The node publishes them and the bag tool writes them, so both must agree on what is output when
(depth only with a valid alignment, optional millimetres, relative, confidence and cloud). The
message builders are passed in: `depthmaster_ros.ros.messages` (rclpy) and
`depthmaster_ros.rosbag_messages` (rosbags) have the same functions.
"""
from dataclasses import dataclass, field

from depthmaster_ros.pipeline import depth_to_millimetres
from depthmaster_ros.point_cloud import xyz_cloud_fields

# Output name -> topic, relative to the node's (or the output bag's) namespace.
OUTPUT_TOPICS = {
    'depth': 'depth/image',
    'depth_mm': 'depth/image_mm',
    'camera_info': 'depth/camera_info',
    'relative': 'depth/relative',
    'confidence': 'depth/confidence',
    'points': 'depth/points',
    'alignment': 'depth/alignment',
}


@dataclass
class FrameMessages:
    messages: list = field(default_factory=list)   # (output name, message), in publish order
    cloud_withheld: int = 0                         # points of a cloud not output (above cloud_max_points)


def frame_messages(output, header, params, builders):
    """The messages of one `pipeline.FrameOutput`, stamped with the source image's header."""
    result = FrameMessages()
    add = result.messages.append
    if output.depth_m is not None:
        add(('depth', builders.image_msg(output.depth_m, '32FC1', header)))
        if params['publish_depth_mm']:
            add(('depth_mm', builders.image_msg(depth_to_millimetres(output.depth_m), '16UC1', header)))
    if output.camera is not None:
        add(('camera_info', builders.camera_info_msg(output.camera.to_camera_info_fields(), header)))
    if params['publish_relative']:
        add(('relative', builders.image_msg(output.relative, '32FC1', header)))
    if params['publish_confidence'] and output.confidence is not None:
        add(('confidence', builders.image_msg(output.confidence, '32FC1', header)))
    if params['publish_cloud'] and output.points is not None:
        count = output.points.size // 3
        if count > params['cloud_max_points']:
            result.cloud_withheld = count
        else:
            add(('points', builders.cloud_msg(xyz_cloud_fields(output.points, output.colors), header)))
    add(('alignment', builders.alignment_msg(output.record, header)))
    return result
