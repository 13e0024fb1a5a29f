"""Ray-cast scenes (a room, a street) with exact ground truth: the sample bag, the alignment evaluation, the
fine-tuning data and the tests use them."""
from . import sample_bag
from .dataset_layouts import layout_names, write_layout
from .errors import SyntheticError
from .evaluation import count_see_through, ground_plane_scale_error, lidar_alignment_accuracy
from .sample_bag import CAMERA_INFO_TOPIC, GT_TOPIC, IMAGE_TOPIC, POINTS_TOPIC, write_sample_bag
from .scene import FLOOR, SyntheticScene, World, fake_prediction, ray_cast
from .scenes import make_scene, scene_names
from .street import StreetScene

__all__ = ['CAMERA_INFO_TOPIC', 'FLOOR', 'GT_TOPIC', 'IMAGE_TOPIC', 'POINTS_TOPIC', 'StreetScene', 'SyntheticError',
           'SyntheticScene', 'World', 'count_see_through', 'fake_prediction', 'ground_plane_scale_error',
           'layout_names', 'lidar_alignment_accuracy', 'make_scene', 'ray_cast', 'sample_bag', 'scene_names',
           'write_layout', 'write_sample_bag']
