"""A ray-cast scene with exact ground truth: the sample bag, the alignment evaluation and the tests use it."""
from . import sample_bag
from .dataset_layouts import layout_names, write_layout
from .errors import SyntheticError
from .evaluation import count_see_through, ground_plane_scale_error, lidar_alignment_accuracy
from .sample_bag import CAMERA_INFO_TOPIC, GT_TOPIC, IMAGE_TOPIC, POINTS_TOPIC, write_sample_bag
from .scene import FLOOR, SyntheticScene, fake_prediction, ray_cast

__all__ = ['CAMERA_INFO_TOPIC', 'FLOOR', 'GT_TOPIC', 'IMAGE_TOPIC', 'POINTS_TOPIC', 'SyntheticError',
           'SyntheticScene', 'count_see_through', 'fake_prediction', 'ground_plane_scale_error', 'layout_names',
           'lidar_alignment_accuracy', 'ray_cast', 'sample_bag', 'write_layout', 'write_sample_bag']
