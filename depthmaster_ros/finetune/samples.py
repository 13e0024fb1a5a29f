"""One training sample: an image with its LiDAR depth made by the node's own rules, and how a frame becomes one.

The sparse depth is what the node's LiDAR mode would fit to: the paired cloud moved into the camera by
`lidar_to_camera` (TF at the cloud's stamp, else the lidar_to_camera parameter) and projected by
`project_to_sparse_depth` with the node's depth range and occlusion filter. A frame that gives fewer than
`min_points` samples has no usable cloud for the node either: it is skipped, with its reason.
"""
from dataclasses import dataclass

import numpy as np

from depthmaster_ros.alignment import project_to_sparse_depth
from depthmaster_ros.alignment.modes import SampleRequest, lidar_to_camera
from depthmaster_ros.config import AlignmentSettings
from depthmaster_ros.geometry import CameraModel
from depthmaster_ros.pipeline import FrameInput

# Why a frame gave no sample: the counter names of the data manifest.
NO_CAMERA = 'no_camera_info'
NO_CLOUD = 'no_point_cloud'
NO_TRANSFORM = 'no_lidar_transform'
TOO_FEW_SAMPLES = 'too_few_lidar_samples'


@dataclass(frozen=True)
class TrainingSample:
    """An image and its metric evidence, at the image's own size."""
    image: np.ndarray                   # (H, W, 3) uint8 RGB
    sparse_depth: np.ndarray            # (H, W) float32 metres (optical z, REP 118), NaN where no LiDAR sample
    dense_depth: np.ndarray | None      # (H, W) float32 ground truth when the bag carries it (oracle and tests only)
    camera: CameraModel                 # intrinsics of `image`
    source: str                         # the bag's name
    stamp_ns: int


@dataclass(frozen=True)
class SkippedFrame:
    kind: str                           # one of the counter names above
    reason: str


@dataclass(frozen=True)
class Projection:
    """How many of a frame's returns reached the image, and how many the occlusion filter removed there."""
    in_view: int
    occluded: int


def sample_from_frame(frame: FrameInput, ground_truth: np.ndarray | None, settings: AlignmentSettings,
                      source: str) -> tuple[TrainingSample, Projection] | SkippedFrame:
    """The sample of an assembled frame, or why there is none (ground truth, when given, is of the image's size)."""
    camera, cloud = frame.camera, frame.cloud
    if camera is None:
        return SkippedFrame(NO_CAMERA, frame.camera_miss_reason or 'no camera_info for this image')
    if cloud is None or len(cloud.points) == 0:
        return SkippedFrame(NO_CLOUD, frame.cloud_miss_reason or 'no point cloud for this image')
    request = SampleRequest(stamp_ns=frame.stamp_ns, frame_id=frame.frame_id, camera=camera, cloud=cloud,
                            cloud_miss_reason=frame.cloud_miss_reason, transforms=frame.transforms, settings=settings)
    transform, reason = lidar_to_camera(request)
    if transform is None:
        return SkippedFrame(NO_TRANSFORM, reason)
    projected = project_to_sparse_depth(transform.apply(np.asarray(cloud.points, np.float64)), camera, camera.width,
                                        camera.height, min_depth=settings.min_depth, max_depth=settings.max_depth,
                                        occlusion_window=settings.occlusion_window_px,
                                        occlusion_rel_threshold=settings.occlusion_rel_threshold)
    if len(projected.pixels) < settings.min_points:
        return SkippedFrame(TOO_FEW_SAMPLES, f'{len(projected.pixels)} LiDAR samples in the image, fewer than '
                                             f'min_points ({settings.min_points})')
    sample = TrainingSample(image=frame.rgb, sparse_depth=projected.depth, dense_depth=ground_truth, camera=camera,
                            source=source, stamp_ns=frame.stamp_ns)
    return sample, Projection(projected.num_in_view, projected.num_occluded)
