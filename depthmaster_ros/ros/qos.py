"""QoS profiles of the node's topics, in one place so docs and code agree.

Streams come in best effort (a camera driver's sensor-data default; a late frame is useless).
Outputs go out reliable by default: depth images and clouds are larger than the 512 KB that
default Fast DDS carries best effort between processes, so best effort silently drops them
unless the SHM profile in config/fastdds_large_data.xml is in use. Reliable outputs keep the last
10 messages: a message dropped while a large image fills the shared-memory segment is repaired
from that history; with 2, repairs came too late and 7-49 % of camera_info was lost
(test/ros/test_output_delivery.py).
"""
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from .errors import NodeSettingError

_RELIABILITY = {'best_effort': ReliabilityPolicy.BEST_EFFORT, 'reliable': ReliabilityPolicy.RELIABLE}


def reliability_policy(name):
    try:
        return _RELIABILITY[name]
    except KeyError:
        raise NodeSettingError(f'reliability must be one of {", ".join(_RELIABILITY)}, got {name!r}') from None


def input_stream_qos(depth, reliability='best_effort'):
    """Image, camera_info and points subscriptions."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=reliability_policy(reliability), durability=DurabilityPolicy.VOLATILE)


OUTPUT_HISTORY_DEPTH = 10


def output_qos(reliability='reliable', depth=OUTPUT_HISTORY_DEPTH):
    """Every published output except /diagnostics."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=reliability_policy(reliability), durability=DurabilityPolicy.VOLATILE)


def tf_qos():
    """/tf as tf2_ros's listener subscribes to it."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


def tf_static_qos():
    """/tf_static: transient local, so transforms latched before the node started still arrive."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def diagnostics_qos():
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)
