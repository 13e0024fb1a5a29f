"""DDS security (SROS2) for the node: fail closed when it is enforced, and the permissions it needs.

With ``ROS_SECURITY_ENABLE=true`` and ``ROS_SECURITY_STRATEGY=Enforce`` the user believes the node talks
only to authenticated peers. Two things can break that belief: no keystore for the node's enclave (rcl
then refuses with an empty "error not set"), and a Fast DDS built without its security plugins (the
registry wheels' one), which takes the security properties and ignores them. Both are checked at start
and refuse with the cause and the fix. Nothing here imports rclpy, so `depthmaster-ros security
permissions` runs without a ROS context.
"""
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import os
from pathlib import Path
from xml.sax.saxutils import escape

from depthmaster_ros.config import Config
from depthmaster_ros.pipeline import OUTPUT_TOPICS

# The files rmw needs in an enclave directory (as `ros2 security create_enclave` writes them).
ENCLAVE_FILES = ('identity_ca.cert.pem', 'cert.pem', 'key.pem', 'permissions_ca.cert.pem', 'governance.p7s',
                 'permissions.p7s')
# A Fast DDS with the security plugins holds their names; a build without them has none of the code.
SECURITY_PLUGIN_MARK = b'builtin.PKI-DH'
FASTDDS_RMWS = ('rmw_fastrtps_cpp', 'rmw_fastrtps_dynamic_cpp')
FIX_PLUGINS = ('use a Fast DDS built with its security plugins: the one of a ROS 2 distribution (apt install '
               'ros-<distro>-rmw-fastrtps-cpp, then source /opt/ros/<distro>/setup.bash), or another RMW with '
               'security (RMW_IMPLEMENTATION=rmw_cyclonedds_cpp from the distribution)')
NODE_NAME = 'depthmaster_node'
# Services every rclpy node offers (parameters, type description) and the lifecycle ones.
PARAMETER_SERVICES = ('describe_parameters', 'get_parameter_types', 'get_parameters', 'get_type_description',
                      'list_parameters', 'set_parameters', 'set_parameters_atomically')
LIFECYCLE_SERVICES = ('change_state', 'get_available_states', 'get_available_transitions', 'get_state',
                      'get_transition_graph')


class DdsSecurityError(RuntimeError):
    """DDS security is enforced but cannot be provided: the node must not start."""


def enforced(environ: Mapping[str, str] = os.environ) -> bool:
    """Security enabled with the Enforce strategy, as rcl reads the two variables."""
    return environ.get('ROS_SECURITY_ENABLE') == 'true' and environ.get('ROS_SECURITY_STRATEGY') == 'Enforce'


def enclave_argument(ros_args: Sequence[str]) -> str:
    """The enclave given with --enclave/-e among ROS arguments ('/' when none, as rcl defaults)."""
    args = list(ros_args)
    for index, arg in enumerate(args[:-1]):
        if arg in ('--enclave', '-e'):
            return args[index + 1]
    return '/'


def check_keystore(ros_args: Sequence[str], environ: Mapping[str, str] = os.environ) -> None:
    """Before rclpy.init: the enclave's keys exist, or DdsSecurityError names what is missing."""
    if not enforced(environ):
        return
    enclave = enclave_argument(ros_args)
    keystore = environ.get('ROS_SECURITY_KEYSTORE', '')
    how = ('create them with `ros2 security create_keystore KEYSTORE` and `ros2 security create_enclave KEYSTORE '
           f'{enclave}`, with the permissions `depthmaster-ros security permissions --params FILE` prints')
    if not keystore:
        raise DdsSecurityError(f'ROS_SECURITY_STRATEGY=Enforce but ROS_SECURITY_KEYSTORE is not set; {how}')
    directory = Path(keystore) / 'enclaves' / enclave.strip('/')
    missing = [name for name in ENCLAVE_FILES if not (directory / name).is_file()]
    if missing:
        raise DdsSecurityError(f'ROS_SECURITY_STRATEGY=Enforce but enclave {enclave} has no {", ".join(missing)} in '
                               f'{directory}; {how}')


def loaded_dds_libraries() -> list[Path]:
    """The Fast DDS libraries mapped into this process (after rclpy.init has loaded the RMW)."""
    found = set()
    for line in Path('/proc/self/maps').read_text().splitlines():
        path = line.split()[-1] if len(line.split()) >= 6 else ''
        name = Path(path).name
        if name.startswith(('libfastdds.so', 'libfastrtps.so')):
            found.add(Path(path))
    return sorted(found)


def has_security_plugins(library: Path) -> bool:
    with library.open('rb') as file:
        return SECURITY_PLUGIN_MARK in file.read()


def check_security_plugins(environ: Mapping[str, str] = os.environ) -> None:
    """After rclpy.init, before any node: refuse when Enforce meets a Fast DDS without security plugins."""
    if not enforced(environ) or environ.get('RMW_IMPLEMENTATION', FASTDDS_RMWS[0]) not in FASTDDS_RMWS:
        return
    libraries = loaded_dds_libraries()
    if not libraries:
        raise DdsSecurityError('ROS_SECURITY_STRATEGY=Enforce but no Fast DDS library is loaded to check for its '
                               f'security plugins; {FIX_PLUGINS}')
    lacking = [library for library in libraries if not has_security_plugins(library)]
    if lacking:
        raise DdsSecurityError(f'ROS_SECURITY_STRATEGY=Enforce but {lacking[0]} is built without the DDS security '
                               'plugins (authentication, access control, encryption): it would run unsecured. '
                               f'Refusing to start; {FIX_PLUGINS}')


# ---------------------------------------------------------------------------------------------
# the node's topics, from its configuration

@dataclass
class NodeTopics:
    """Fully qualified names the node publishes, subscribes to and serves, for one configuration."""
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)
    reply: list[str] = field(default_factory=list)


def _resolve(name: str, namespace: str, node_name: str) -> str:
    if name.startswith('/'):
        return name
    if name.startswith('~'):
        return f'{namespace.rstrip("/")}/{node_name}{name[1:]}'
    return f'{namespace.rstrip("/")}/{name}'


def node_topics(config: Config, namespace: str = '/', node_name: str = NODE_NAME, lifecycle: bool = False,
                remappings: Mapping[str, str] | None = None) -> NodeTopics:
    """What the node does on the DDS domain with this configuration, by the rules the node creates them with.

    ``points`` is always listed: alignment_mode can be changed at runtime to a mode that needs it.
    ``remappings`` are ``-r FROM:=TO`` rules, matched on resolved names as rcl does.
    """
    remapped = {_resolve(source, namespace, node_name): _resolve(target, namespace, node_name)
                for source, target in (remappings or {}).items()}

    def name(relative: str) -> str:
        resolved = _resolve(relative, namespace, node_name)
        return remapped.get(resolved, resolved)

    cameras = config.node.cameras or ('',)
    image = 'image/compressed' if config.input.image_transport == 'compressed' else 'image'
    channel = [f'{camera}/' if camera else '' for camera in cameras]
    topics = NodeTopics()
    topics.publish = [name(prefix + topic) for prefix in channel for topic in OUTPUT_TOPICS.values()]
    topics.publish += [name('/diagnostics'), name('/rosout'), name('/parameter_events')]
    topics.subscribe = [name(prefix + input_topic) for prefix in channel for input_topic in (image, 'camera_info')]
    topics.subscribe += [name('points'), name('/tf'), name('/tf_static')]
    topics.reply = [name(f'~/{service}') for service in PARAMETER_SERVICES]
    if lifecycle:
        topics.publish.append(name('~/transition_event'))
        topics.reply += [name(f'~/{service}') for service in LIFECYCLE_SERVICES]
    for names in (topics.publish, topics.subscribe, topics.reply):
        names.sort()
    return topics


def permissions_policy(topics: NodeTopics, enclave: str = '/depthmaster', node_name: str = NODE_NAME,
                       namespace: str = '/') -> str:
    """An SROS2 policy (the input of `ros2 security create_enclave`/`create_permission`) for these topics."""
    def block(kind, verb, names):
        items = ''.join(f'            <{kind}>{escape(name)}</{kind}>\n' for name in names)
        return f'          <{kind}s {verb}="ALLOW">\n{items}          </{kind}s>\n'

    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<policy version="0.2.0">\n'
            '  <enclaves>\n'
            f'    <enclave path="{escape(enclave)}">\n'
            '      <profiles>\n'
            f'        <profile ns="{escape(namespace)}" node="{escape(node_name)}">\n'
            + block('topic', 'publish', topics.publish) + block('topic', 'subscribe', topics.subscribe)
            + block('service', 'reply', topics.reply)
            + '        </profile>\n'
            '      </profiles>\n'
            '    </enclave>\n'
            '  </enclaves>\n'
            '</policy>\n')
