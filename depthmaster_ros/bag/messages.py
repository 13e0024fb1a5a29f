"""rosbags message builders, mirroring ``ros/messages.py`` for writing bags without rclpy.

The typestore is ROS 2 Kilted's with depthmaster_interfaces/msg/DepthAlignment registered from the
package's own msg/DepthAlignment.msg, so bag metadata carries the same type hash rclpy publishes.
Byte payloads are numpy uint8 arrays, as rosbags expects.
"""
import functools
from pathlib import Path
import sys
from typing import TYPE_CHECKING, Any

import numpy as np
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from depthmaster_ros.conversions import (
    alignment_values,
    camera_info_values,
    check_frame_id,
    laser_scan_values,
    numpy_to_image_fields,
    split_stamp_ns,
    stamp_to_ns,
)

from .errors import BagFileError

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

    from depthmaster_ros.alignment import AlignmentRecord
    from depthmaster_ros.conversions import CloudFields

ALIGNMENT_TYPE = 'depthmaster_interfaces/msg/DepthAlignment'
_MSG_FILE = 'DepthAlignment.msg'

__all__ = ['ALIGNMENT_TYPE', 'typestore', 'alignment_msg_path', 'header', 'stamp_to_ns', 'image_msg',
           'compressed_image_msg', 'cloud_msg', 'camera_info_msg', 'alignment_msg', 'scan_msg', 'header_in']


def alignment_msg_path() -> Path:
    """msg/DepthAlignment.msg: the source tree's, else the installed share/depthmaster_ros/msg copy."""
    candidates = [Path(__file__).resolve().parents[2] / 'msg' / _MSG_FILE,
                  Path(sys.prefix) / 'share' / 'depthmaster_ros' / 'msg' / _MSG_FILE]
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory('depthmaster_ros')) / 'msg' / _MSG_FILE)
    except Exception:  # noqa: BLE001 - not importable, AMENT_PREFIX_PATH unset, or package not indexed
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise BagFileError(f'{_MSG_FILE} not found; looked in: {", ".join(map(str, candidates))}')


@functools.lru_cache(maxsize=1)
def typestore() -> 'Typestore':
    """The ROS 2 Kilted typestore with DepthAlignment registered (one shared instance)."""
    store = get_typestore(Stores.ROS2_KILTED)
    store.register(get_types_from_msg(alignment_msg_path().read_text(), ALIGNMENT_TYPE))
    return store


def _type(name: str) -> Any:
    return typestore().types[name]


def _uint8(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).copy()


def header(stamp_ns: int, frame_id: str) -> Any:
    sec, nanosec = split_stamp_ns(stamp_ns)
    return _type('std_msgs/msg/Header')(stamp=_type('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec),
                                        frame_id=check_frame_id(frame_id))


def header_in(header: Any, frame_id: str) -> Any:
    """The same stamp in another frame (a navigation output's)."""
    return _type('std_msgs/msg/Header')(stamp=header.stamp, frame_id=check_frame_id(frame_id))


def image_msg(pixels: np.ndarray, encoding: str, header: Any) -> Any:
    """sensor_msgs/msg/Image of ``pixels`` in ``encoding`` (checked to fit it)."""
    fields = numpy_to_image_fields(pixels, encoding)
    return _type('sensor_msgs/msg/Image')(header=header, height=fields.height, width=fields.width,
                                          encoding=fields.encoding, is_bigendian=int(fields.is_bigendian),
                                          step=fields.step, data=_uint8(fields.data))


def compressed_image_msg(fmt: str, data: bytes, header: Any) -> Any:
    """sensor_msgs/msg/CompressedImage from ``compressed_image.encode_compressed`` output."""
    return _type('sensor_msgs/msg/CompressedImage')(header=header, format=fmt, data=_uint8(data))


def cloud_msg(cloud: 'CloudFields', header: Any) -> Any:
    """sensor_msgs/msg/PointCloud2 from ``point_cloud.CloudFields``."""
    point_field = _type('sensor_msgs/msg/PointField')
    return _type('sensor_msgs/msg/PointCloud2')(
        header=header, height=cloud.height, width=cloud.width,
        fields=[point_field(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count) for f in cloud.fields],
        is_bigendian=bool(cloud.is_bigendian), point_step=cloud.point_step, row_step=cloud.row_step,
        data=_uint8(cloud.data), is_dense=bool(cloud.is_dense))


def camera_info_msg(fields: dict, header: Any) -> Any:
    """sensor_msgs/msg/CameraInfo from a dict of its fields (``CameraModel.to_camera_info_fields()``)."""
    values = camera_info_values(fields)
    roi = _type('sensor_msgs/msg/RegionOfInterest')(**values.pop('roi'))
    return _type('sensor_msgs/msg/CameraInfo')(header=header, roi=roi, **values)


def alignment_msg(record: 'AlignmentRecord', header: Any) -> Any:
    """depthmaster_interfaces/msg/DepthAlignment from an ``AlignmentRecord``."""
    return _type(ALIGNMENT_TYPE)(header=header, **alignment_values(record))


def scan_msg(scan: Any, header: Any) -> Any:
    """sensor_msgs/msg/LaserScan from a ``navigation.Scan``."""
    return _type('sensor_msgs/msg/LaserScan')(header=header, intensities=np.zeros(0, np.float32),
                                              **laser_scan_values(scan))
