"""Relative depth to metres: the robust fit, the sources of sparse metric samples, the temporal filter."""
from .apply import apply_alignment
from .confidence import AGREEMENT_TOLERANCE, alignment_confidence, sample_agreement
from .errors import AlignmentError, ModeRegistryError
from .evidence_pool import DRIFT_PER_S, EvidencePool
from .extrinsic_check import estimate_offset, gradient_offset
from .fit import (
           SPREAD_RELATIVE,
           fit_samples,
           fit_to_sparse_depth,
           least_squares_scale_shift,
           metric_depth_from_sparse,
           sample_indices,
           spread_and_median,
)
from .floor_selection import select_floor
from .ground_plane import camera_to_base_from_height_pitch_roll, ground_plane_depth, pose_from_tf
from .height_check import HeightCheck, PeriodicHeightCheck, check_camera_height
from .lidar_projection import SparseDepthResult, occlusion_mask, project_to_sparse_depth
from .record import AlignmentRecord, message_fields
from .robust_start import PROBE_ROWS, lowest_median_row, robust_line
from .sample_weights import DENSITY_GRID, representative_weights
from .spaces import Space, check_space, from_space, to_space
from .temporal_filter import TemporalAlignmentFilter
from .verdicts import breakdown_ratio, fit_verdict, weak_evidence

__all__ = ['AGREEMENT_TOLERANCE', 'AlignmentError', 'AlignmentRecord', 'DENSITY_GRID', 'DRIFT_PER_S', 'EvidencePool',
           'HeightCheck', 'ModeRegistryError', 'PROBE_ROWS', 'PeriodicHeightCheck', 'SPREAD_RELATIVE', 'Space',
           'SparseDepthResult', 'TemporalAlignmentFilter', 'alignment_confidence', 'apply_alignment',
           'breakdown_ratio', 'camera_to_base_from_height_pitch_roll', 'check_camera_height', 'check_space',
           'estimate_offset', 'fit_samples', 'fit_to_sparse_depth', 'fit_verdict', 'from_space',
           'gradient_offset', 'ground_plane_depth', 'least_squares_scale_shift', 'lowest_median_row', 'message_fields',
           'metric_depth_from_sparse', 'occlusion_mask', 'pose_from_tf', 'project_to_sparse_depth',
           'representative_weights', 'robust_line', 'sample_agreement', 'sample_indices', 'select_floor',
           'spread_and_median', 'to_space', 'weak_evidence']
