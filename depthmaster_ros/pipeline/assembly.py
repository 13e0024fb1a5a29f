"""Turning input messages into a frame: the same rules for the live node and the bag replay.

Both adapters decode images with the same size guard, read clouds the same way, pair a cloud with
an image by stamp and check that the intrinsics are for this image size here, so a recorded frame and a live
frame become the same `FrameInput`.
"""
from typing import Any

import numpy as np

from depthmaster_ros.conversions.compressed import compressed_to_rgb8
from depthmaster_ros.conversions.image import check_image_size, image_to_rgb8
from depthmaster_ros.conversions.point_cloud import read_xyz
from depthmaster_ros.conversions.values import stamp_to_ns
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.geometry.stamped_cloud import StampedCloud


class InputFault(ValueError):
    """An input message that cannot be used; `kind` is its counter on /diagnostics and in the bag summary."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


def image_to_model_rgb(message: Any, max_pixels: int) -> np.ndarray:
    """RGB for the model from an Image or a CompressedImage; oversize images are refused before decoding."""
    if hasattr(message, 'format'):                       # sensor_msgs/CompressedImage
        return compressed_to_rgb8(message, max_pixels)
    check_image_size(message.width, message.height, max_pixels)
    return image_to_rgb8(message)


def cloud_from_message(message: Any) -> StampedCloud:
    """The finite xyz points of a PointCloud2 with its frame and stamp; InputFault when unusable."""
    try:
        xyz = read_xyz(message, skip_nans=True)          # organised clouds mark missing returns with NaN
    except ValueError as error:             # the cause tells sizes that lie (ImplausibleSize) from the rest
        raise InputFault('points', str(error)) from error
    frame_id = str(message.header.frame_id)
    if len(xyz) == 0:
        raise InputFault('points_empty', f'point cloud in {frame_id!r} has no finite points')
    if not frame_id:
        raise InputFault('points_frame_id', 'point cloud has an empty frame_id; it cannot be transformed')
    return StampedCloud(xyz, frame_id, stamp_to_ns(message.header.stamp))


def camera_for_image(camera: CameraModel, width: int, height: int) -> CameraModel:
    """The intrinsics when they describe an image of exactly this size; InputFault otherwise.

    Intrinsics of another size are never scaled: a camera_info of another size belongs to another
    stream or calibration (binning and cropping change K in ways a scale cannot tell apart).
    """
    if (camera.width, camera.height) == (width, height):
        return camera
    raise InputFault('camera_info_size', f'camera_info is {camera.width}x{camera.height} but its image is '
                                         f'{width}x{height}: intrinsics of another size are never applied; '
                                         'relative depth only (publish the camera_info of this image size)')
