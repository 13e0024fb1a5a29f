"""Which topics of a recorded bag feed the pipeline: chosen by flags, or found when unambiguous.

A bag often holds several Image topics (colour, depth, ground truth, our own outputs), so a topic's
type is not enough: Image topics are told apart by the encoding of their first message. When more
than one candidate remains the selection fails and lists every topic, so the user can pick one.
"""
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import TYPE_CHECKING, Any, Literal

from .compression import bound_input_inflation
from .errors import BagError, TopicSelectionError
from .refusal import BagRefused, check_chunk_index, guarded_records

if TYPE_CHECKING:
    from rosbags.interfaces import Connection
    from rosbags.typesys.store import Typestore

IMAGE = 'sensor_msgs/msg/Image'
COMPRESSED_IMAGE = 'sensor_msgs/msg/CompressedImage'
CAMERA_INFO = 'sensor_msgs/msg/CameraInfo'
POINT_CLOUD = 'sensor_msgs/msg/PointCloud2'
TF_MESSAGE = 'tf2_msgs/msg/TFMessage'
TF_TOPICS = ('/tf_static', '/tf')

# Topic names that hold ground-truth depth when present (the sample bag writes the first).
KNOWN_GT_TOPICS = ('/camera/depth_gt',)

# Image encodings that carry depth or other single-channel float data, never a camera picture.
NON_COLOUR_ENCODINGS = frozenset({'32fc1', '16uc1', '64fc1', '32fc2', '32fc3', '32fc4', '16sc1', '32sc1'})


@dataclass(frozen=True)
class TopicEntry:
    name: str
    msgtype: str
    count: int


@dataclass
class SelectedTopics:
    image: str
    image_type: str                 # IMAGE or COMPRESSED_IMAGE
    camera_info: str | None = None
    points: str | None = None
    gt: str | None = None
    tf: list = field(default_factory=list)


def topic_listing(entries: Iterable[TopicEntry]) -> str:
    """The bag's topics as aligned lines: topic, type, message count."""
    entries = sorted(entries, key=lambda e: e.name)
    if not entries:
        return '  (the bag has no topics)'
    width = max(len(e.name) for e in entries)
    type_width = max(len(e.msgtype) for e in entries)
    return '\n'.join(f'  {e.name:<{width}}  {e.msgtype:<{type_width}}  {e.count}' for e in entries)


def _fail(problem, hint, entries):
    raise TopicSelectionError(f'{problem}; {hint}.\nTopics in the bag (topic, type, count):\n{topic_listing(entries)}')


def _by_type(entries, *msgtypes):
    return [e for e in entries if e.msgtype in msgtypes]


def _chosen(entries, name, flag, allowed_types):
    entry = next((e for e in entries if e.name == name), None)
    if entry is None:
        _fail(f'{flag} {name}: no such topic in the bag', f'pass one of the listed topics to {flag}', entries)
    if entry.msgtype not in allowed_types:
        _fail(f'{flag} {name}: type {entry.msgtype} is not {" or ".join(allowed_types)}',
              f'pass a topic of that type to {flag}', entries)
    return entry


def is_colour_image(entry: TopicEntry, first_message: Any) -> bool:
    """True when a topic looks like camera pictures rather than depth (decided from its first message)."""
    if entry.msgtype == COMPRESSED_IMAGE:
        return 'compresseddepth' not in str(getattr(first_message, 'format', '')).lower()
    if entry.msgtype == IMAGE:
        return str(getattr(first_message, 'encoding', '')).lower() not in NON_COLOUR_ENCODINGS
    return False


def image_namespace(image_topic: str, image_type: str) -> str:
    """The namespace an image topic lives in: /camera/image_raw and /camera/image_raw/compressed -> /camera."""
    base = image_topic
    if image_type == COMPRESSED_IMAGE and base.endswith('/compressed'):
        base = base[: -len('/compressed')]
    namespace = base.rsplit('/', 1)[0]
    return namespace or '/'


def select_topics(entries: Iterable[TopicEntry], first_message: Callable[[str], Any], *, image_topic: str | None = None,
                  camera_info_topic: str | None = None, points_topic: str | None = None, gt_topic: str | None = None,
                  use_points: bool = True) -> SelectedTopics:
    """Pick the pipeline's inputs among a bag's topics.

    ``first_message(topic)`` returns the topic's first deserialised message (used only to tell colour
    Image topics from depth ones). Flags win; otherwise a role is filled when exactly one topic fits.
    """
    entries = list(entries)
    gt = _chosen(entries, gt_topic, '--gt-topic', (IMAGE,)).name if gt_topic else None
    if gt is None:
        gt = next((e.name for e in entries if e.name in KNOWN_GT_TOPICS and e.msgtype == IMAGE), None)

    if image_topic:
        image = _chosen(entries, image_topic, '--image-topic', (IMAGE, COMPRESSED_IMAGE))
    else:
        candidates = [e for e in _by_type(entries, IMAGE, COMPRESSED_IMAGE)
                      if e.name != gt and e.count > 0 and is_colour_image(e, first_message(e.name))]
        if not candidates:
            _fail('no camera image topic (sensor_msgs/msg/Image or CompressedImage with a colour encoding)',
                  'pass one with --image-topic', entries)
        if len(candidates) > 1:
            names = ', '.join(e.name for e in candidates)
            _fail(f'several camera image topics could be the input ({names})', 'choose one with --image-topic', entries)
        image = candidates[0]

    namespace = image_namespace(image.name, image.msgtype)
    if camera_info_topic:
        camera_info = _chosen(entries, camera_info_topic, '--camera-info-topic', (CAMERA_INFO,)).name
    else:
        infos = _by_type(entries, CAMERA_INFO)
        beside = [e for e in infos if e.name == namespace.rstrip('/') + '/camera_info']
        if beside:
            camera_info = beside[0].name
        elif len(infos) == 1:
            camera_info = infos[0].name
        elif not infos:
            camera_info = None
        else:
            names = ', '.join(e.name for e in infos)
            _fail(f'several CameraInfo topics and none beside {image.name} ({names})',
                  'choose one with --camera-info-topic', entries)

    return SelectedTopics(image=image.name, image_type=image.msgtype, camera_info=camera_info,
                          points=select_points(entries, points_topic, use_points), gt=gt, tf=tf_topics(entries))


def select_points(entries: list[TopicEntry], points_topic: str | None, use_points: bool) -> str | None:
    """The PointCloud2 topic: the flag's, else the bag's only one (None without clouds or with use_points off)."""
    if points_topic:
        return _chosen(entries, points_topic, '--points-topic', (POINT_CLOUD,)).name
    if not use_points:
        return None
    clouds = _by_type(entries, POINT_CLOUD)
    if len(clouds) > 1:
        names = ', '.join(e.name for e in clouds)
        _fail(f'several PointCloud2 topics ({names})', 'choose one with --points-topic, or pass --no-points', entries)
    return clouds[0].name if clouds else None


def tf_topics(entries: Iterable[TopicEntry]) -> list[str]:
    return [name for name in TF_TOPICS if any(e.name == name and e.msgtype == TF_MESSAGE for e in entries)]


@dataclass(frozen=True)
class CameraTopics:
    """One camera's input topics in a recorded camera ring."""
    name: str                       # its entry in the `cameras` parameter
    image: str
    image_type: str
    camera_info: str | None
    gt: str | None                  # <namespace>/depth_gt when the bag has it

    @property
    def namespace(self) -> str:
        return image_namespace(self.image, self.image_type)


def select_ring_topics(entries: Iterable[TopicEntry], first_message: Callable[[str], Any], cameras: Iterable[str], *,
                       image_topic: str | None = None, camera_info_topic: str | None = None,
                       gt_topic: str | None = None) -> list[CameraTopics]:
    """Each camera's topics, found the way the node's `cameras` parameter places them: under the camera's name.

    Camera `front` takes the colour image topic of a namespace that ends in `/front` (/front/image_raw,
    /robot/front/image_raw), the CameraInfo beside it and `<namespace>/depth_gt` as its ground truth when
    the bag has one. --image-topic and --camera-info-topic, given with a ring, are names relative to each
    camera's namespace (image_rect: /front/image_rect), like the node's `front/image`.
    """
    entries = list(entries)
    if gt_topic:
        _fail(f'--gt-topic {gt_topic}: one topic for a ring of cameras', "each camera's ground truth is "
              '<its namespace>/depth_gt; leave --gt-topic out', entries)
    for flag, value in (('--image-topic', image_topic), ('--camera-info-topic', camera_info_topic)):
        if value and value.startswith('/'):
            _fail(f'{flag} {value}: with cameras it is relative to each camera\'s namespace',
                  f'pass it without the leading / (e.g. {flag} {value.rsplit("/", 1)[-1]})', entries)
    found: list[CameraTopics] = []
    for name in cameras:
        suffix = f'/{name}'
        images = [e for e in _by_type(entries, IMAGE, COMPRESSED_IMAGE) if e.count > 0 and (
            e.name.endswith(f'{suffix}/{image_topic}') if image_topic else
            image_namespace(e.name, e.msgtype).endswith(suffix) and is_colour_image(e, first_message(e.name)))]
        if len(images) != 1:
            problem = 'no' if not images else f'several ({", ".join(e.name for e in images)})'
            _fail(f'camera {name!r}: {problem} camera image topic in a namespace ending in {suffix}',
                  'name it relative to the camera with --image-topic, or check the cameras parameter', entries)
        image = images[0]
        if any(camera.image == image.name for camera in found):
            _fail(f'camera {name!r}: its image topic {image.name} is another camera\'s', 'check the cameras parameter',
                  entries)
        namespace = image_namespace(image.name, image.msgtype).rstrip('/')
        info = f'{namespace}/{camera_info_topic or "camera_info"}'
        camera_info = info if any(e.name == info and e.msgtype == CAMERA_INFO for e in entries) else None
        if camera_info is None and camera_info_topic:
            _fail(f'camera {name!r}: no CameraInfo topic {info}', 'check --camera-info-topic', entries)
        gt = f'{namespace}/depth_gt'
        found.append(CameraTopics(name, image.name, image.msgtype, camera_info,
                                  gt if any(e.name == gt and e.msgtype == IMAGE for e in entries) else None))
    return found


class InputBag:
    """A rosbag2 opened for reading (mcap or sqlite3, directory or single file), with a typestore.

    Messages deserialise with the bag's own definitions where it carries them (so a bag from another
    distribution reads as recorded) and with ``base_typestore`` (ROS 2 Kilted + our messages) otherwise.
    """

    def __init__(self, path: str | Path, base_typestore: 'Typestore'):
        from rosbags.rosbag2 import Reader

        bound_input_inflation()
        try:
            self.reader = Reader(path)
            self.reader.open()
        except FileNotFoundError as error:
            raise BagError(f'IN: {error}') from None
        except Exception as error:  # noqa: BLE001 - rosbags raises its own error types for unreadable bags
            raise BagRefused(path, f'{path} is not a readable rosbag2 ({type(error).__name__}: {error})',
                             record='its index') from None
        self.path = path
        self._first: dict[str, Any] = {}
        self._last_read = 'before the first record'
        try:
            check_chunk_index(path, self.reader)
            self.typestore = _typestore_for(path, self.reader.connections, base_typestore)
        except BaseException:
            self.reader.close()
            raise

    def close(self) -> None:
        self.reader.close()

    def __enter__(self) -> 'InputBag':
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.close()
        return False

    def entries(self) -> list[TopicEntry]:
        return [TopicEntry(name, info.msgtype or '(mixed types)', info.msgcount)
                for name, info in self.reader.topics.items()]

    def connections(self, topic: str) -> list['Connection']:
        return [c for c in self.reader.connections if c.topic == topic]

    def messages(self, connections: Iterable['Connection'], start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple['Connection', int, bytes]]:
        """The reader's records in log order; a record that cannot be read refuses the bag (BagRefused)."""
        def read() -> Iterator[tuple['Connection', int, bytes]]:
            for connection, log_ns, rawdata in self.reader.messages(connections=list(connections), start=start,
                                                                     stop=stop):
                self._last_read = f'after the record of {connection.topic} logged at {log_ns} ns'
                yield connection, log_ns, rawdata
        return guarded_records(self.path, read(), lambda: self._last_read)

    def deserialize(self, rawdata: bytes, msgtype: str) -> Any:
        return self.typestore.deserialize_cdr(rawdata, msgtype)

    def decode(self, connection: 'Connection', log_ns: int, rawdata: bytes) -> Any:
        """The message of one record; BagRefused naming the record when it is not a ``connection.msgtype``."""
        try:
            return self.deserialize(rawdata, connection.msgtype)
        except Exception as error:  # noqa: BLE001 - rosbags raises several types for CDR that is not the type
            raise BagRefused(self.path, f'{len(rawdata)} bytes that do not decode as {connection.msgtype} '
                                        f'({type(error).__name__}: {error})',
                             topic=connection.topic, record=record_name(log_ns)) from None

    def first_message(self, topic: str) -> Any:
        """The topic's first message, deserialised (None when it has none or it does not decode)."""
        if topic not in self._first:
            message = None
            for connection, log_ns, rawdata in self.messages(self.connections(topic)):
                message = self.decode(connection, log_ns, rawdata)
                break
            self._first[topic] = message
        return self._first[topic]


def record_name(log_ns: int) -> str:
    """How an error names one record: its log time, which ros2 bag and the MCAP tools show too."""
    return f'record logged at {log_ns} ns'


# The base store's types the pipeline reads, with every type inside them: a bag may not redefine these.
_READ_TYPES = (IMAGE, COMPRESSED_IMAGE, CAMERA_INFO, POINT_CLOUD, TF_MESSAGE)


def _field_shapes(fields):
    """(name, type) per field, the same for a definition read from .msg, from IDL or from the base store."""
    return [(name, repr(description).replace("'byte'", "'uint8'").replace("'octet'", "'uint8'")
             .replace("'char'", "'uint8'")) for name, description in fields]


def _read_type_names(base_typestore):
    names, queue = set(), list(_READ_TYPES)
    while queue:
        name = queue.pop()
        if name in names or name not in base_typestore.fielddefs:
            continue
        names.add(name)
        queue.extend(re.findall(r"'(\w+/msg/\w+)'", repr(base_typestore.fielddefs[name][1])))
    return names


def _check_definitions(bag, topic, types, base_typestore):
    """Refuse a connection whose definition of a type the pipeline reads is not that type (a lying type name)."""
    for name in sorted(_read_type_names(base_typestore) & set(types)):
        if _field_shapes(types[name][1]) != _field_shapes(base_typestore.fielddefs[name][1]):
            fields = ', '.join(field for field, _ in types[name][1])
            raise BagRefused(bag, f'the definition it carries for {name} ({fields}) is not {name}: the type name '
                                  'lies', topic=topic, record='its embedded message definition')


def _typestore_for(bag, connections, base_typestore):
    """A typestore with the bag's embedded definitions, falling back to the base store's types.

    Each connection's definitions are checked on their own, so an honest connection of the same type
    cannot hide a lying one.
    """
    from rosbags.interfaces import MessageDefinitionFormat
    from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg, get_typestore

    embedded = {}
    for connection in connections:
        definition, types = connection.msgdef, {}
        try:
            if definition.format == MessageDefinitionFormat.MSG:
                types = get_types_from_msg(definition.data, connection.msgtype)
            elif definition.format == MessageDefinitionFormat.IDL:
                separator = '=' * 80 + '\n'
                for part in definition.data.split(separator):
                    if part.startswith('IDL: '):
                        types.update(get_types_from_idl(part.split('\n', 1)[1]))
        except Exception:  # noqa: BLE001 - an unparsable embedded definition falls back to the base store
            continue
        _check_definitions(bag, connection.topic, types, base_typestore)
        embedded.update(types)
    if not embedded:
        return base_typestore
    store = get_typestore(Stores.EMPTY)
    try:
        store.register({**base_typestore.fielddefs, **embedded})
    except Exception:  # noqa: BLE001 - definitions that clash with each other: trust the base store
        return base_typestore
    return store
