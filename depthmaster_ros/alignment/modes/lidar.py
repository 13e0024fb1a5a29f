"""LiDAR mode: the paired cloud, moved into the camera frame and projected with the occlusion filter."""
import numpy as np

from depthmaster_ros.geometry import RigidTransform

from ..lidar_projection import project_to_sparse_depth
from . import register
from .base import AlignmentMode, ModeOutcome, NoSamples, SampleRequest, SparseSamples


@register('lidar', 'sparse LiDAR returns projected into the image, fitted robustly',
          needs_cloud=True, needs_transforms=True)
class LidarMode(AlignmentMode):

    def samples(self, request: SampleRequest) -> ModeOutcome:
        camera, cloud = request.camera, request.cloud
        if camera is None:
            return NoSamples('no camera info')
        if cloud is None:
            return NoSamples(request.cloud_miss_reason or 'no point cloud for this image')
        if len(cloud.points) == 0:
            return NoSamples('point cloud is empty')
        transform, reason = lidar_to_camera(request)
        if transform is None:
            return NoSamples(reason)
        settings = request.settings
        points_cam = transform.apply(np.asarray(cloud.points, dtype=np.float64))
        sparse = project_to_sparse_depth(points_cam, camera, camera.width, camera.height,
                                         min_depth=settings.min_depth, max_depth=settings.max_depth,
                                         occlusion_window=settings.occlusion_window_px,
                                         occlusion_rel_threshold=settings.occlusion_rel_threshold)
        return SparseSamples(sparse.depth, pixels=sparse.pixels)


def lidar_to_camera(request: SampleRequest) -> tuple[RigidTransform | None, str]:
    """TF first (at the cloud's stamp), then the lidar_to_camera parameter; else None and why."""
    settings, cloud = request.settings, request.cloud
    assert cloud is not None
    tf_error = ''
    if settings.use_tf and request.transforms is not None:
        try:
            return request.transforms.lookup(request.frame_id, cloud.frame_id, cloud.stamp_ns), ''
        except (LookupError, ValueError) as error:
            tf_error = str(error)
    if settings.lidar_to_camera and cloud.frame_id == settings.lidar_frame:
        fallback = settings.lidar_to_camera
        return RigidTransform.from_translation_quaternion(fallback[:3], fallback[3:]), ''
    if settings.lidar_to_camera:
        reason = (f'no transform from {cloud.frame_id!r} to {request.frame_id!r}; lidar_to_camera is for '
                  f'lidar_frame {settings.lidar_frame!r} only')
    else:
        reason = f'no transform from {cloud.frame_id!r} to {request.frame_id!r} and lidar_to_camera is empty'
    if not settings.use_tf:
        reason += ' (use_tf is false)'
    return None, f'{reason} ({tf_error})' if tf_error else reason
