"""Fine-tuning DepthMaster on a fleet's own recordings (ROS-free; peft, tensorboardX and Ray load only where used).

torch loads with the training executors (`distributed`), Ray Train only with `run_training(..., executor='ray')`.
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

# These modules import torch: they load on first use of one of their names.
__getattr__ = lazy_attributes(__name__, {
    'distributed': ('EXECUTORS', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
                    'run_training', 'worker_context'),
})

__all__ = ['Augmentation', 'Batch', 'EXECUTORS', 'FinetuneError', 'FrameStore', 'MANIFEST', 'SkippedFrame', 'Split',
           'TrainingBatches', 'TrainingOutcome', 'TrainingSample', 'WorkerContext', 'bag_sha256', 'build_frame_store',
           'colour_jitter', 'flip_camera', 'flip_sample', 'is_main', 'prepare_model', 'processing_grid', 'report',
           'run_training', 'sample_from_frame', 'split_frames', 'worker_context']
