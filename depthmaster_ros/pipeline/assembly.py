"""Turning input messages into a frame: the one assembly of the live node and the bag replay.

Both adapters hand their messages over as they receive them; here images are decoded with the
same size guard, paired with the camera_info of their stamp (camera_sync) and with a cloud
(cloud_pairing), checked against the intrinsics' image size and given the transforms, so a
recorded frame and a live frame become the same `FrameInput`. Every reason a frame is skipped or
degraded is reported under its counter from faults.FAULT_KINDS, through the adapter's `report`.
Messages are duck-typed: rclpy and rosbags messages alike, as in conversions/.
"""
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from depthmaster_ros.alignment.modes import get_mode
from depthmaster_ros.conversions import (
    ImplausibleSize,
    check_image_size,
    compressed_to_rgb8,
    image_to_rgb8,
    read_xyz,
    stamp_to_ns,
)
from depthmaster_ros.errors import InputError
from depthmaster_ros.geometry import CameraModel, StampedCloud

from . import faults
from .camera_sync import CameraInfoSync, Paired
from .cloud_pairing import RecentClouds
from .frames import FrameInput

if TYPE_CHECKING:
    from depthmaster_ros.config import Config
    from depthmaster_ros.geometry import TransformLookup

# report(kind, text): count one fault or skip under its counter, with the sentence for the log
Report = Callable[[str, str], object]


def image_to_model_rgb(message: Any, max_pixels: int) -> np.ndarray:
    """RGB for the model from an Image or a CompressedImage; oversize images are refused before decoding."""
    if hasattr(message, 'format'):                       # sensor_msgs/CompressedImage
        return compressed_to_rgb8(message, max_pixels)
    check_image_size(message.width, message.height, max_pixels)
    return image_to_rgb8(message)


def cloud_from_message(message: Any) -> StampedCloud:
    """The finite xyz points of a PointCloud2 with its frame and stamp; InputError when unusable."""
    try:
        xyz = read_xyz(message, skip_nans=True)          # organised clouds mark missing returns with NaN
    except ValueError as error:             # the cause tells sizes that lie (ImplausibleSize) from the rest
        raise InputError(str(error), kind='points') from error
    frame_id = str(message.header.frame_id)
    if len(xyz) == 0:
        raise InputError(f'point cloud in {frame_id!r} has no finite points', kind='points_empty')
    if not frame_id:
        raise InputError('point cloud has an empty frame_id; it cannot be transformed', kind='points_frame_id')
    return StampedCloud(xyz, frame_id, stamp_to_ns(message.header.stamp))


def store_cloud(clouds: RecentClouds, message: Any, report: Report,
                edit: Callable[[StampedCloud], StampedCloud] | None = None, refuse_implausible: bool = False) -> None:
    """A PointCloud2 into the recent clouds (`edit`ed first: the evaluation's LiDAR holdout), or its fault reported
    (with ``refuse_implausible``, sizes that lie raise ImplausibleSize instead: the bag tools refuse the file)."""
    try:
        cloud = cloud_from_message(message)
        clouds.add(cloud if edit is None else edit(cloud))
    except InputError as fault:
        if refuse_implausible and isinstance(fault.__cause__, ImplausibleSize):
            raise fault.__cause__ from None
        report(fault.kind, str(fault))


def camera_for_image(camera: CameraModel, width: int, height: int) -> CameraModel:
    """The intrinsics when they describe an image of exactly this size; InputError otherwise.

    Intrinsics of another size are never scaled: a camera_info of another size belongs to another
    stream or calibration (binning and cropping change K in ways a scale cannot tell apart).
    """
    if (camera.width, camera.height) == (width, height):
        return camera
    raise InputError(f'camera_info is {camera.width}x{camera.height} but its image is {width}x{height}: intrinsics '
                     'of another size are never applied; relative depth only (publish the camera_info of this image size)',
                     kind='camera_info_size')


@dataclass
class ConvertedImage:
    """An image decoded for the model, waiting (or not) for its camera_info."""
    rgb: np.ndarray
    header: Any              # the source image's std_msgs/Header
    stamp_ns: int
    tag: Any                 # the adapter's own data about the message (receipt time, log time)
    arrival: int = 0         # its place in the order the camera's images came in


class FrameAssembly:
    """One camera's messages -> FrameInput, the same for the node and the bag tool.

    live (the node): images may wait for their camera_info (camera_info_timeout_s), a refused
    camera_info and a missing cloud are counted as they happen. Replay (the bag tool, which reads
    ahead): the camera_info of an image's stamp is looked up, a refusal is counted with each image
    that meets it, and a missing cloud is only written in the frame's alignment record.
    Frames leave in the order their images came: an image released after a newer one (it waited
    for a camera_info that stopped) is dropped and counted, so the outputs never step back in time
    and the pipeline's stamp-order check sees only what the inputs did.
    """

    def __init__(self, camera_sync: CameraInfoSync, clouds: RecentClouds | None, transforms: 'TransformLookup',
                 report: Report, skip: Report, live: bool, listening: str = '',
                 refuse_implausible: bool = False):
        self.camera_sync = camera_sync
        self.clouds = clouds              # None: no cloud source (the frame gets none)
        self.transforms = transforms
        self._report, self._skip, self._live = report, skip, live
        self._listening = listening       # where camera_info and images come from, said when camera_info is missing
        self._refuse_implausible = refuse_implausible     # sizes that lie raise instead of a skip (bag tools)
        self._arrivals = 0           # images handed over so far
        self._newest_out = 0         # arrival number of the newest image made into a frame

    def add_camera_info(self, message: Any) -> list[Paired]:
        """Store a CameraInfo (refused ones too: their images get relative depth only); the images it settles."""
        stamp_ns = stamp_to_ns(message.header.stamp)
        try:
            return self.camera_sync.add_info(stamp_ns, CameraModel.from_camera_info(message))
        except ValueError as error:
            if self._live:
                self._report('camera_info', str(error))
            return self.camera_sync.add_info(stamp_ns, None, str(error))

    def add_image(self, message: Any, config: 'Config', tag: Any = None) -> list[Paired]:
        """Decode an image and pair it with its camera_info: the images released now (none when skipped)."""
        try:
            rgb = image_to_model_rgb(message, config.input.max_pixels)
        except ValueError as error:
            if self._refuse_implausible and isinstance(error, ImplausibleSize):
                raise
            self._skip(faults.IMAGE, faults.dropped(error))
            return []
        stamp_ns = stamp_to_ns(message.header.stamp)
        self._arrivals += 1
        image = ConvertedImage(rgb, message.header, stamp_ns, tag, self._arrivals)
        if self._live:
            return self.camera_sync.add_image(image, stamp_ns, wait=get_mode(config.alignment.alignment_mode).metric)
        return [self.camera_sync.lookup(image, stamp_ns)]

    def expire(self) -> list[Paired]:
        """Images that waited camera_info_timeout_s for their camera_info (live)."""
        return self.camera_sync.expire()

    def frame(self, paired: Paired, config: 'Config') -> FrameInput | None:
        """The frame of a released image: its checked intrinsics, its cloud and the transforms; None when dropped."""
        image: ConvertedImage = paired.item
        if paired.dropped:
            self._report(paired.fault, paired.reason)
            return None
        if image.arrival < self._newest_out:
            self._report(faults.IMAGE_OVERTAKEN, faults.dropped(
                f'image stamped {image.stamp_ns * 1e-9:.6f} s waited for its camera_info while a newer image '
                'went out; publishing it now would step back in time'))
            return None
        self._newest_out = image.arrival
        camera_miss_reason = ''                # for the frame's alignment record
        if paired.fault:
            camera_miss_reason = f'{paired.reason} ({self._listening})' if self._listening else paired.reason
            self._report(paired.fault, camera_miss_reason)
        camera = paired.camera
        if camera is not None:
            try:
                camera = camera_for_image(camera, image.rgb.shape[1], image.rgb.shape[0])
            except InputError as fault:
                self._report(fault.kind, str(fault))
                camera, camera_miss_reason = None, str(fault)
        alignment = config.alignment
        cloud, miss_reason = None, ''
        if get_mode(alignment.alignment_mode).needs_cloud and self.clouds is not None:
            cloud, miss_reason = self.clouds.select(image.stamp_ns, alignment.max_cloud_age_s,
                                                    alignment.cloud_future_tolerance_s)
            if cloud is None and self._live:
                self._report('points_missing', miss_reason)
        return FrameInput(rgb=image.rgb, stamp_ns=image.stamp_ns, frame_id=str(image.header.frame_id), camera=camera,
                          cloud=cloud, transforms=self.transforms if alignment.use_tf else None,
                          cloud_miss_reason=miss_reason, camera_miss_reason=camera_miss_reason)
