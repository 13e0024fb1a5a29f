"""Fine-tuning DepthMaster on a fleet's own recordings against their LiDAR (`depthmaster-ros finetune`).

ROS-free. The data modules load eagerly (numpy only); the modules that import torch load on first use of
one of their names, Ray Train only with `run_training(..., executor='ray')`, peft and tensorboardX only
where used, so importing this package stays light.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .augment import Augmentation, colour_jitter, flip_camera, flip_sample
from .batches import Batch, TrainingBatches, processing_grid
from .errors import FinetuneError
from .frame_store import MANIFEST, FrameStore, bag_sha256, build_frame_store
from .samples import SkippedFrame, TrainingSample, sample_from_frame
from .split import Split, split_frames

if TYPE_CHECKING:
    from .adapters import LORA_TARGETS, configure_training
    from .checkpoint import latest_checkpoint
    from .distributed import (
        EXECUTORS,
        TrainingOutcome,
        WorkerContext,
        is_main,
        prepare_model,
        report,
        run_training,
        worker_context,
    )
    from .loss import LossSettings, LossTerms, depth_loss
    from .manifest import MANIFEST_NAME
    from .trainable import TrainableDepthMaster
    from .trainer import train_loop
    from .validation import held_out_scores

__getattr__ = lazy_attributes(__name__, {
    'distributed': ('EXECUTORS', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
                    'run_training', 'worker_context'),
    'adapters': ('LORA_TARGETS', 'configure_training'),
    'checkpoint': ('latest_checkpoint',),
    'loss': ('LossSettings', 'LossTerms', 'depth_loss'),
    'manifest': ('MANIFEST_NAME',),
    'trainer': ('train_loop',),
    'validation': ('held_out_scores',),
    'trainable': ('TrainableDepthMaster',),
})

__all__ = ['Augmentation', 'Batch', 'EXECUTORS', 'FinetuneError', 'FrameStore', 'LORA_TARGETS', 'LossSettings',
           'LossTerms', 'MANIFEST', 'MANIFEST_NAME', 'SkippedFrame', 'Split', 'TrainableDepthMaster',
           'TrainingBatches', 'TrainingOutcome', 'TrainingSample', 'WorkerContext', 'bag_sha256', 'build_frame_store',
           'colour_jitter', 'configure_training', 'depth_loss', 'flip_camera', 'flip_sample', 'held_out_scores', 'is_main',
           'latest_checkpoint', 'prepare_model', 'processing_grid', 'report', 'run_training', 'sample_from_frame',
           'split_frames', 'train_loop', 'worker_context']
