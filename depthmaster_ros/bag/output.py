"""The output bag's side of a replay: connections created on first use, with the QoS the node offers."""
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from depthmaster_ros.config import Config
from depthmaster_ros.pipeline import OUTPUT_TOPICS, frame_messages

from . import messages
from .writing import qos_profile, tf_static_offered_qos

if TYPE_CHECKING:
    from rosbags.interfaces import Connection, ConnectionExtRosbag2
    from rosbags.typesys.store import Typestore

    from depthmaster_ros.pipeline import FrameOutput

# depth/relative in a bag: every frame (as the node publishes it), or only frames without metric
# depth, where it is all the model's output there is (elsewhere depth/image is it, scaled and shifted).
RELATIVE_CHOICES = ('all', 'unaligned')


class OutputBag:
    """The output bag's connections, created on first use, with the QoS the node offers."""

    def __init__(self, writer: Any, namespace: str, config: Config, relative: str = 'all'):
        self.writer = writer
        self.builders = messages
        self.typestore = messages.typestore()
        self.namespace = namespace.rstrip('/')
        self.output = config.output
        self.relative = relative
        self._qos = [qos_profile(reliable=config.node.output_reliability == 'reliable')]
        self._connections: dict[tuple[str, ...], Any] = {}

    def topic(self, role: str) -> str:
        return f'{self.namespace}/{OUTPUT_TOPICS[role]}'

    def write(self, role: str, message: Any, log_ns: int) -> None:
        key = (role, message.__msgtype__)
        if key not in self._connections:
            self._connections[key] = self.writer.add_connection(
                self.topic(role), message.__msgtype__, typestore=self.typestore, offered_qos_profiles=self._qos)
        self.writer.write(self._connections[key], log_ns, self.typestore.serialize_cdr(message, message.__msgtype__))

    def copy(self, connection: 'Connection', input_typestore: 'Typestore', log_ns: int, rawdata: bytes) -> None:
        """Copy an input message as recorded: original type, definition, hash and QoS."""
        key = ('copy', connection.topic, connection.msgtype)
        if key not in self._connections:
            qos = list(cast('ConnectionExtRosbag2', connection.ext).offered_qos_profiles)
            if connection.topic == '/tf_static':
                qos = tf_static_offered_qos(qos)
            definition, digest = connection.msgdef.data or None, connection.digest or None
            if definition is None or digest is None:      # then the input typestore supplies both
                definition = digest = None
            self._connections[key] = self.writer.add_connection(
                connection.topic, connection.msgtype, typestore=input_typestore, msgdef=definition,
                rihs01=digest, offered_qos_profiles=qos)
        self.writer.write(self._connections[key], log_ns, rawdata)

    def write_frame(self, output: 'FrameOutput', header: Any, log_ns: int) -> bool:
        """Every output of one frame, by the node's rule; False if the cloud was too big to write."""
        produced = frame_messages(output, header, self.output, self.builders)
        names = {name for name, _ in produced.messages}
        for name, message in produced.messages:
            if name == 'relative' and self.relative == 'unaligned' and 'depth' in names:
                continue
            self.write(name, message, log_ns)
        return not produced.cloud_withheld


class Progress:
    """The tqdm bar of a run, or nothing when progress is off; ``on_update`` also hears of every frame."""

    def __init__(self, total: int, enabled: bool, on_update: Callable[[], None] | None = None):
        self.bar = None
        self.on_update = on_update
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit='frame', dynamic_ncols=True, smoothing=0.1)

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
        if self.on_update is not None:
            self.on_update()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
