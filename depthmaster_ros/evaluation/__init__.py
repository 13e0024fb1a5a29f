"""Scoring depth against ground truth: the published zero-shot tables, the sparse-depth benchmarks with
the project's alignment, and a robot's own bag against held-out LiDAR (`depthmaster-ros evaluate`).

Importing the package registers every dataset (their place here is their place in `--dataset`).
"""
from . import benchmarks, folder, sparse_benchmarks  # noqa: F401  (registration)
from .bag_holdout import Holdout, evaluate_bag, scan_lines
from .benchmarks import kitti_benchmark_crop, kitti_eigen_mask, nyu_eigen_mask
from .cache import PredictionCache, cache_folder
from .datasets import DatasetOptions, dataset_class, dataset_names, open_dataset
from .errors import EvaluationError
from .metrics import METRIC_KEYS, RELATIVE_KEYS, image_metrics, mean_metrics
from .predictions import FilePredictions, ModelPredictions, backend_space
from .protocols import PROTOCOLS, align_to_ground_truth, fit_mask, protocol_for_space
from .report import markdown_table
from .scoring import evaluate, with_method

__all__ = ['DatasetOptions', 'EvaluationError', 'FilePredictions', 'Holdout', 'METRIC_KEYS', 'ModelPredictions',
           'PROTOCOLS', 'PredictionCache', 'RELATIVE_KEYS', 'align_to_ground_truth', 'backend_space', 'cache_folder',
           'dataset_class', 'dataset_names', 'evaluate', 'evaluate_bag', 'fit_mask', 'image_metrics',
           'kitti_benchmark_crop', 'kitti_eigen_mask', 'markdown_table', 'mean_metrics', 'nyu_eigen_mask',
           'open_dataset', 'protocol_for_space', 'scan_lines', 'with_method']
