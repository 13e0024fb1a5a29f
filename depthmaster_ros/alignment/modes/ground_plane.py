"""Ground-plane mode: the floor's depth along each downward ray, from the camera's height and tilt,
kept where the relative map shows floor (floor_selection.py)."""
from functools import lru_cache

from ..floor_selection import select_floor
from ..ground_plane import camera_to_base_from_height_pitch_roll, ground_plane_depth, pose_from_tf
from . import register
from .base import AlignmentMode, ModeOutcome, NoSamples, SampleRequest, SparseSamples

# the pose from the parameters is the same frame after frame: made once
_pose_from_parameters = lru_cache(maxsize=8)(camera_to_base_from_height_pitch_roll)


@register('ground_plane', 'the floor plane of base_frame (TF, else camera height/pitch/roll) as virtual depth',
          needs_transforms=True)
class GroundPlaneMode(AlignmentMode):

    def samples(self, request: SampleRequest) -> ModeOutcome:
        camera, settings = request.camera, request.settings
        if camera is None:
            return NoSamples('no camera info')
        camera_to_base = pose_from_tf(request.transforms if settings.use_tf else None, settings.base_frame,
                                      request.frame_id, request.stamp_ns)
        if camera_to_base is None:
            camera_to_base = _pose_from_parameters(
                settings.camera_height_m, settings.camera_pitch_rad, settings.camera_roll_rad)
        max_depth = min(settings.ground_plane_max_depth, settings.max_depth)
        try:
            if request.relative is None or not request.space:
                return SparseSamples(ground_plane_depth(camera, camera_to_base, camera.width, camera.height,
                                                        max_depth=max_depth))
            floor = select_floor(request.relative, request.space, camera, camera_to_base, max_depth)
        except ValueError as error:
            return NoSamples(f'ground plane: {error}')
        if not len(floor.pixels):
            return NoSamples(f'ground plane: the prediction shows no floor within {max_depth:g} m '
                             f'(hidden, out of view, or the pose is wrong)')
        return SparseSamples(floor.depth, floor.floor_share, floor.pixels, floor.fit_start)
