"""Raw sensor_msgs built byte by byte for the conversion tests, independently of the code under test.

Each helper lays the bytes out by hand (row padding, byte order, point records) and wraps them in a
real message class: rclpy's (``data`` an array.array) or rosbags' (``data`` a numpy uint8 array).
"""
import array

import numpy as np

FLAVOURS = ('rclpy', 'rosbags')


def _rosbags_types():
    from depthmaster_ros.bag import typestore
    return typestore().types


def padded_rows(pixels, step, big_endian, rng, extra_tail=0):
    """Image bytes: each row of ``pixels`` in the wire byte order, padded with random bytes to ``step``."""
    height = pixels.shape[0]
    order = '>' if big_endian else '<'
    wire = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder(order))
    rows = wire.reshape(height, -1).view(np.uint8)
    out = rng.integers(0, 256, size=(height, step), dtype=np.uint8)
    out[:, :rows.shape[1]] = rows
    return out.tobytes() + rng.integers(0, 256, size=extra_tail, dtype=np.uint8).tobytes()


def image_message(flavour, *, height, width, encoding, step, data, is_bigendian=False):
    if flavour == 'rclpy':
        from sensor_msgs.msg import Image
        msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(is_bigendian), step=step)
        msg.data = array.array('B', data)
        return msg
    types = _rosbags_types()
    header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='')
    return types['sensor_msgs/msg/Image'](header=header, height=height, width=width, encoding=encoding,
                                          is_bigendian=int(is_bigendian), step=step,
                                          data=np.frombuffer(data, dtype=np.uint8).copy())


def compressed_message(flavour, fmt, data):
    if flavour == 'rclpy':
        from sensor_msgs.msg import CompressedImage
        msg = CompressedImage(format=fmt)
        msg.data = array.array('B', data)
        return msg
    types = _rosbags_types()
    header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='')
    return types['sensor_msgs/msg/CompressedImage'](header=header, format=fmt,
                                                    data=np.frombuffer(data, dtype=np.uint8).copy())


def cloud_message(flavour, *, height, width, fields, point_step, row_step, data, is_bigendian=False,
                  is_dense=True):
    """``fields`` is a sequence of (name, offset, datatype, count)."""
    if flavour == 'rclpy':
        from sensor_msgs.msg import PointCloud2, PointField
        msg = PointCloud2(height=height, width=width, is_bigendian=is_bigendian, point_step=point_step,
                          row_step=row_step, is_dense=is_dense,
                          fields=[PointField(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields])
        msg.data = array.array('B', data)
        return msg
    types = _rosbags_types()
    header = types['std_msgs/msg/Header'](stamp=types['builtin_interfaces/msg/Time'](sec=0, nanosec=0), frame_id='')
    point_field = types['sensor_msgs/msg/PointField']
    return types['sensor_msgs/msg/PointCloud2'](
        header=header, height=height, width=width,
        fields=[point_field(name=n, offset=o, datatype=d, count=c) for n, o, d, c in fields],
        is_bigendian=is_bigendian, point_step=point_step, row_step=row_step,
        data=np.frombuffer(data, dtype=np.uint8).copy(), is_dense=is_dense)


def random_values(rng, dtype, shape):
    """Random values spanning the dtype: full integer range, or normal floats."""
    dtype = np.dtype(dtype)
    if dtype.kind == 'f':
        return rng.normal(0.0, 100.0, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
