"""The synthetic sample rosbag2: a robot driving through a room or along a street, with exact ground-truth depth.

It is rendered by `depthmaster_ros.synthetic.scene` (the same generator the alignment tests use), so the bag
tool's AbsRel/delta1 against /camera/depth_gt measure the whole pipeline against the truth.

Frames (REP 103/105/120): odom -> base_footprint on /tf (the robot's path on the floor), and on
/tf_static base_footprint -> base_link (identity: the scene's robot origin is on the floor),
base_link -> camera_optical_frame and base_link -> lidar_link. Images, CameraInfo and GT depth are in
camera_optical_frame; the cloud is in lidar_link (x forward, y left, z up). `left_camera` adds a second
camera looking left (/left/..., left_camera_optical_frame, yawed 90 degrees), triggered LEFT_DELAY_NS after
the first (cameras of a ring are seldom synchronised): a recorded camera ring.
"""
import os
from pathlib import Path

import numpy as np

from depthmaster_ros.bag import (
    SINGLE_FILE_SUFFIXES,
    OutputLocation,
    open_writer,
    output_compression,
    output_storage,
    qos_profile,
    tf_static_offered_qos,
)

from .errors import SyntheticError

IMAGE_TOPIC = '/camera/image_raw'
CAMERA_INFO_TOPIC = '/camera/camera_info'
POINTS_TOPIC = '/lidar/points'
GT_TOPIC = '/camera/depth_gt'
ODOM_FRAME = 'odom'
FOOTPRINT_FRAME = 'base_footprint'
BASE_FRAME = 'base_link'
CAMERA_FRAME = 'camera_optical_frame'
LEFT_IMAGE_TOPIC = '/left/image_raw'
LEFT_CAMERA_INFO_TOPIC = '/left/camera_info'
LEFT_GT_TOPIC = '/left/depth_gt'
LEFT_CAMERA_FRAME = 'left_camera_optical_frame'
LEFT_YAW_RAD = np.pi / 2
LEFT_DELAY_NS = 3_000_000
LIDAR_FRAME = 'lidar_link'
# A fixed epoch start so the same arguments always give the same bag (and no zero stamps).
START_STAMP_NS = 1_700_000_000 * 1_000_000_000
# Log time after the stamp at which each sensor's message reaches the recorder.
CAMERA_LATENCY_NS = 12_000_000
LIDAR_LATENCY_NS = 35_000_000


def _check(name, value, low, kind=int):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and value != int(value)):
        raise SyntheticError(f'{name}: expected {"an integer" if kind is int else "a number"}, got {value!r}')
    if not value >= low:
        raise SyntheticError(f'{name}: must be at least {low}, got {value!r}')
    return kind(value)


def _transform_msg(types, parent, child, transform, stamp_ns, header):
    translation, quaternion = transform.to_translation_quaternion()
    return types['geometry_msgs/msg/TransformStamped'](
        header=header(stamp_ns, parent),
        child_frame_id=child,
        transform=types['geometry_msgs/msg/Transform'](
            translation=types['geometry_msgs/msg/Vector3'](*(float(v) for v in translation)),
            rotation=types['geometry_msgs/msg/Quaternion'](*(float(v) for v in quaternion))))


def lidar_intensity(points: np.ndarray) -> np.ndarray:
    """A plausible return strength: falls with range (the scene has no reflectance)."""
    ranges = np.linalg.norm(points, axis=1)
    return (255.0 / (1.0 + 0.15 * ranges ** 2)).astype(np.float32)


def write_sample_bag(path: str | os.PathLike[str], frames: int = 100, rate_hz: float = 10.0, width: int = 640,
                     height: int = 480, seed: int = 0, force: bool = False, storage: str | None = None,
                     compression: str | None = None, scene: str = 'room', lidar_beams: int = 32,
                     lidar_range_noise: float | None = None, left_camera: bool = False) -> dict[str, int]:
    """Write the sample bag to `path` (.mcap file, .db3 file or a bag directory); returns its topic counts.

    `scene` names one of SCENES (room, street); `lidar_range_noise` None keeps that scene's own default.
    Compressed as the bag tool's output is (zstd where rosbag2 reads it back) unless `compression` says;
    `left_camera` adds the second camera of a ring (its image, camera_info and ground truth).
    """
    from depthmaster_ros.bag import messages as rm
    from depthmaster_ros.conversions import FLOAT32, XYZ_FIELDS, FieldSpec, create_cloud_fields
    from depthmaster_ros.geometry import RigidTransform, rotation_about
    from depthmaster_ros.synthetic.scenes import make_scene

    frames = _check('frames', frames, 1)
    rate_hz = _check('rate', rate_hz, 1e-3, float)
    width = _check('width', width, 16)
    height = _check('height', height, 16)
    seed = _check('seed', seed, 0)
    storage = output_storage(path, storage)
    compression = output_compression(storage, Path(path).suffix in SINGLE_FILE_SUFFIXES, compression)
    noise = {} if lidar_range_noise is None else {'lidar_range_noise': _check('lidar_range_noise', lidar_range_noise,
                                                                              0.0, float)}
    scenery = make_scene(scene, width=width, height=height, seed=seed, start_stamp_ns=START_STAMP_NS,
                       lidar_beams=lidar_beams, **noise)
    store = rm.typestore()
    types = store.types
    location = OutputLocation(path, force)
    writer = open_writer(location, storage, compression)
    sensor_qos = [qos_profile(reliable=False, depth=5)]
    connections = {
        IMAGE_TOPIC: writer.add_connection(IMAGE_TOPIC, 'sensor_msgs/msg/Image', typestore=store,
                                           offered_qos_profiles=sensor_qos),
        CAMERA_INFO_TOPIC: writer.add_connection(CAMERA_INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', typestore=store,
                                                 offered_qos_profiles=sensor_qos),
        POINTS_TOPIC: writer.add_connection(POINTS_TOPIC, 'sensor_msgs/msg/PointCloud2', typestore=store,
                                            offered_qos_profiles=sensor_qos),
        GT_TOPIC: writer.add_connection(GT_TOPIC, 'sensor_msgs/msg/Image', typestore=store,
                                        offered_qos_profiles=[qos_profile(reliable=True)]),
        '/tf_static': writer.add_connection('/tf_static', 'tf2_msgs/msg/TFMessage', typestore=store,
                                            offered_qos_profiles=tf_static_offered_qos()),
        '/tf': writer.add_connection('/tf', 'tf2_msgs/msg/TFMessage', typestore=store,
                                     offered_qos_profiles=[qos_profile(reliable=True, depth=100)]),
    }
    cameras = [(CAMERA_FRAME, IMAGE_TOPIC, CAMERA_INFO_TOPIC, GT_TOPIC, scenery.camera_to_base)]
    if left_camera:
        left_to_base = RigidTransform(rotation_about('z', LEFT_YAW_RAD), np.zeros(3)) @ scenery.camera_to_base
        cameras.append((LEFT_CAMERA_FRAME, LEFT_IMAGE_TOPIC, LEFT_CAMERA_INFO_TOPIC, LEFT_GT_TOPIC, left_to_base))
        for topic, msgtype, qos in ((LEFT_IMAGE_TOPIC, 'sensor_msgs/msg/Image', sensor_qos),
                                    (LEFT_CAMERA_INFO_TOPIC, 'sensor_msgs/msg/CameraInfo', sensor_qos),
                                    (LEFT_GT_TOPIC, 'sensor_msgs/msg/Image', [qos_profile(reliable=True)])):
            connections[topic] = writer.add_connection(topic, msgtype, typestore=store, offered_qos_profiles=qos)
    counts = dict.fromkeys(connections, 0)

    def write(topic, message, log_ns):
        writer.write(connections[topic], log_ns, store.serialize_cdr(message, message.__msgtype__))
        counts[topic] += 1

    cloud_layout = XYZ_FIELDS + (FieldSpec('intensity', 12, FLOAT32),)
    try:
        static = types['tf2_msgs/msg/TFMessage'](transforms=[
            _transform_msg(types, FOOTPRINT_FRAME, BASE_FRAME, RigidTransform.identity(), START_STAMP_NS, rm.header),
            *(_transform_msg(types, BASE_FRAME, frame_id, to_base, START_STAMP_NS, rm.header)
              for frame_id, *_, to_base in cameras),
            _transform_msg(types, BASE_FRAME, LIDAR_FRAME, scenery.lidar_to_base, START_STAMP_NS, rm.header),
        ])
        write('/tf_static', static, START_STAMP_NS)
        camera_fields = scenery.camera.to_camera_info_fields()
        for step, frame in enumerate(scenery.frames(rate_hz, frames / rate_hz)):
            stamp = frame.stamp_ns
            write('/tf', types['tf2_msgs/msg/TFMessage'](transforms=[
                _transform_msg(types, ODOM_FRAME, FOOTPRINT_FRAME, frame.world_from_base, stamp, rm.header)]), stamp)
            for index, (frame_id, image_topic, info_topic, gt_topic, to_base) in enumerate(cameras):
                rgb, depth = (frame.rgb, frame.depth) if index == 0 else scenery.render_view(
                    step / rate_hz + LEFT_DELAY_NS * 1e-9, to_base)
                camera_stamp = stamp + index * LEFT_DELAY_NS
                camera_header, log_ns = rm.header(camera_stamp, frame_id), camera_stamp + CAMERA_LATENCY_NS
                write(image_topic, rm.image_msg(rgb, 'rgb8', camera_header), log_ns)
                write(info_topic, rm.camera_info_msg(camera_fields, camera_header), log_ns)
                write(gt_topic, rm.image_msg(depth, '32FC1', camera_header), log_ns)
            points = frame.lidar_points
            cloud = np.concatenate([points, lidar_intensity(points)[:, None]], axis=1).astype(np.float32)
            cloud_fields = create_cloud_fields(cloud, fields=cloud_layout)
            write(POINTS_TOPIC, rm.cloud_msg(cloud_fields, rm.header(stamp, LIDAR_FRAME)), stamp + LIDAR_LATENCY_NS)
    except BaseException:
        writer.close()
        location.discard()
        raise
    writer.close()
    location.commit()
    return counts

