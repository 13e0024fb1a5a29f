"""The thin rclpy adapter over the ROS-free core: the only subpackage that imports rclpy.

Its names load on first use, so importing one module of it does not start every rclpy import.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .errors import NodeSettingError

if TYPE_CHECKING:
    from .diagnostics import FAULT_WARN_S, OK, WARN, NodeHealth, inputs_status
    from .lifecycle_node import DepthMasterLifecycleNode
    from .mailbox import LatestFrameMailbox
    from .messages import cloud_msg, header_msg, image_msg
    from .monitor import format_report, watch
    from .node import DepthMasterNode
    from .process import main
    from .qos import OUTPUT_HISTORY_DEPTH, output_qos
    from .security import ENCLAVE_FILES, has_security_plugins, node_topics, permissions_policy

__getattr__ = lazy_attributes(__name__, {
    'security': ('ENCLAVE_FILES', 'has_security_plugins', 'node_topics', 'permissions_policy',),
    'monitor': ('format_report', 'watch',),
    'qos': ('OUTPUT_HISTORY_DEPTH', 'output_qos'),
    'diagnostics': ('FAULT_WARN_S', 'OK', 'WARN', 'NodeHealth', 'inputs_status'),
    'lifecycle_node': ('DepthMasterLifecycleNode',),
    'mailbox': ('LatestFrameMailbox',),
    'messages': ('cloud_msg', 'header_msg', 'image_msg'),
    'node': ('DepthMasterNode',),
    'process': ('main',),
})

__all__ = ['DepthMasterLifecycleNode', 'DepthMasterNode', 'ENCLAVE_FILES', 'FAULT_WARN_S', 'LatestFrameMailbox',
           'NodeHealth', 'NodeSettingError', 'OK', 'OUTPUT_HISTORY_DEPTH', 'WARN', 'cloud_msg',
           'format_report', 'has_security_plugins', 'header_msg', 'image_msg', 'inputs_status', 'main', 'messages',
           'node_topics', 'output_qos', 'permissions_policy', 'watch']
