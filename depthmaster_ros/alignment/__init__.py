"""Relative depth to metres: the robust fit, the sources of sparse metric samples, the temporal filter."""
from .fit import AlignmentResult, align_to_sparse_depth, apply_alignment
from .ground_plane import camera_to_base_from_height_pitch_roll, ground_plane_depth
from .lidar_projection import project_to_sparse_depth
from .record import AlignmentRecord

__all__ = ['AlignmentRecord', 'AlignmentResult', 'align_to_sparse_depth', 'apply_alignment',
           'camera_to_base_from_height_pitch_roll', 'ground_plane_depth', 'project_to_sparse_depth']
