"""Scoring depth against ground truth: the published zero-shot tables, the sparse-depth benchmarks with
the project's alignment, and a robot's own bag against held-out LiDAR (`depthmaster-ros evaluate`).

Importing the package registers every dataset (their place here is their place in `--dataset`).
"""
from . import benchmarks, sparse_benchmarks, folder  # noqa: F401  (registration)
from .datasets import DatasetOptions, dataset_names, open_dataset

__all__ = ['DatasetOptions', 'dataset_names', 'open_dataset']
