"""rclpy message builders over the ROS-free conversions.

Byte payloads go in the one form the generated ``uint8[]`` setter copies fast: with field checks
on (ROS_PYTHON_CHECK_FIELDS=1, and always before Jazzy) an ``array.array('B')``, kept as is;
with them off (the default) ``bytes``, copied with one memcpy. Any other form (a numpy buffer,
a list, an array.array with checks off) is walked element by element: milliseconds to hundreds
of milliseconds per image.
"""
import array

from builtin_interfaces.msg import Time
from depthmaster_interfaces.msg import DepthAlignment
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, LaserScan, PointCloud2, PointField
from std_msgs.msg import Header

from depthmaster_ros.conversions import (
    alignment_values,
    camera_info_values,
    check_frame_id,
    laser_scan_values,
    numpy_to_image_fields,
    split_stamp_ns,
    stamp_to_ns,
)

__all__ = ['stamp_to_ns', 'ns_to_stamp', 'header_msg', 'image_msg', 'compressed_image_msg', 'cloud_msg',
           'camera_info_msg', 'alignment_msg', 'scan_msg', 'header_in']


def ns_to_stamp(ns: int) -> Time:
    """builtin_interfaces/Time for ``ns``; ValueError when it does not fit the int32 seconds field."""
    sec, nanosec = split_stamp_ns(ns)
    return Time(sec=sec, nanosec=nanosec)


def header_msg(stamp_ns: int, frame_id: str) -> Header:
    return Header(stamp=ns_to_stamp(stamp_ns), frame_id=check_frame_id(frame_id))


def header_in(header: Header, frame_id: str) -> Header:
    """The same stamp in another frame (a navigation output's)."""
    return Header(stamp=header.stamp, frame_id=check_frame_id(frame_id))


def _set_data(msg, data: bytes) -> None:
    msg.data = array.array('B', data) if getattr(msg, '_check_fields', True) else data


def image_msg(pixels, encoding: str, header: Header) -> Image:
    """sensor_msgs/Image of ``pixels`` in ``encoding`` (checked to fit it)."""
    fields = numpy_to_image_fields(pixels, encoding)
    msg = Image(header=header, height=fields.height, width=fields.width, encoding=fields.encoding,
                is_bigendian=int(fields.is_bigendian), step=fields.step)
    _set_data(msg, fields.data)
    return msg


def compressed_image_msg(fmt: str, data: bytes, header: Header) -> CompressedImage:
    """sensor_msgs/CompressedImage from ``compressed_image.encode_compressed`` output."""
    msg = CompressedImage(header=header, format=fmt)
    _set_data(msg, data)
    return msg


def cloud_msg(cloud, header: Header) -> PointCloud2:
    """sensor_msgs/PointCloud2 from ``point_cloud.CloudFields``."""
    msg = PointCloud2(header=header, height=cloud.height, width=cloud.width,
                      fields=[PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
                              for f in cloud.fields],
                      is_bigendian=bool(cloud.is_bigendian), point_step=cloud.point_step,
                      row_step=cloud.row_step, is_dense=bool(cloud.is_dense))
    _set_data(msg, cloud.data)
    return msg


def camera_info_msg(fields: dict, header: Header) -> CameraInfo:
    """sensor_msgs/CameraInfo from a dict of its fields (``CameraModel.to_camera_info_fields()``)."""
    values = camera_info_values(fields)
    msg = CameraInfo(header=header, height=values['height'], width=values['width'],
                     distortion_model=values['distortion_model'], binning_x=values['binning_x'],
                     binning_y=values['binning_y'])
    msg.d = values['d'].tolist()
    msg.k, msg.r, msg.p = values['k'], values['r'], values['p']
    for name, value in values['roi'].items():
        setattr(msg.roi, name, value)
    return msg


def alignment_msg(record, header: Header) -> DepthAlignment:
    """depthmaster_interfaces/DepthAlignment from an ``AlignmentRecord``."""
    return DepthAlignment(header=header, **alignment_values(record))


def scan_msg(scan, header: Header) -> LaserScan:
    """sensor_msgs/LaserScan from a ``navigation.Scan`` (ranges as one float32 array copy)."""
    values = laser_scan_values(scan)
    ranges = array.array('f')
    ranges.frombytes(values.pop('ranges').tobytes())
    msg = LaserScan(header=header, **values)
    msg.ranges = ranges
    return msg
