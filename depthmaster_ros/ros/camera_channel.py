"""One camera the node serves: its topics, its camera_info pairing, its pipeline and its health.

A node serves one camera (topics in its own namespace) or several (the `cameras` parameter, one
namespace each). The frame path treats both alike, as a list of channels that share one model, one
mailbox (a slot per camera), the LiDAR clouds and /tf; only what belongs to a camera lives here:
its frame assembly (camera_info pairing) reports each fault under the camera's label.
"""
from dataclasses import dataclass, field
from typing import Any

from depthmaster_ros.pipeline import CameraInfoSync, DepthPipeline, FrameAssembly

from .diagnostics import NodeHealth


@dataclass
class CameraChannel:
    key: int                        # the camera's slot in the mailbox
    name: str                       # its namespace, relative to the node's; '' = the node's own
    pipeline: DepthPipeline         # its own state (stamps, size, temporal fit) over the shared model
    assembly: FrameAssembly         # its messages -> frames (its camera_info pairing)
    health: NodeHealth
    image_sub: Any = None
    camera_info_sub: Any = None
    output_pubs: dict[str, Any] = field(default_factory=dict)

    @property
    def camera_sync(self) -> CameraInfoSync:
        return self.assembly.camera_sync

    def topic(self, relative: str) -> str:
        """A topic of this camera: in its namespace, or the node's own one for a lone camera."""
        return f'{self.name}/{relative}' if self.name else relative

    def label(self, message: str) -> str:
        """A log or fault text that says which camera it concerns (when there are several)."""
        return camera_label(self.name, message)

    def has_subscribers(self) -> bool:
        return any(pub.get_subscription_count() > 0 for pub in self.output_pubs.values())


def camera_label(name: str, message: str) -> str:
    """`message` prefixed with the camera's namespace, when it has one."""
    return f'{name}: {message}' if name else message
