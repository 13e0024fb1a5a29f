"""Relative depth to metres: the robust fit, the sources of sparse metric samples, the temporal filter."""
from .apply import apply_alignment
from .fit import fit_samples, fit_to_sparse_depth, metric_depth_from_sparse
from .ground_plane import camera_to_base_from_height_pitch_roll, ground_plane_depth
from .lidar_projection import project_to_sparse_depth
from .record import AlignmentRecord
from .spaces import Space, check_space, from_space, to_space

__all__ = ['AlignmentRecord', 'Space', 'apply_alignment', 'camera_to_base_from_height_pitch_roll', 'check_space',
           'fit_samples', 'fit_to_sparse_depth', 'from_space', 'ground_plane_depth', 'metric_depth_from_sparse',
           'project_to_sparse_depth', 'to_space']
