"""Fine-tuning DepthMaster on a fleet's own recordings against their LiDAR (`depthmaster-ros finetune`).

torch is imported only by the modules that need it, Ray Train only by `ray_training` (through
`run_training(..., executor='ray')`), so importing this package stays light.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .errors import FinetuneError

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
    from .validation import validate

__getattr__ = lazy_attributes(__name__, {
    'distributed': ('EXECUTORS', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
                    'run_training', 'worker_context'),
    'adapters': ('LORA_TARGETS', 'configure_training'),
    'checkpoint': ('latest_checkpoint',),
    'loss': ('LossSettings', 'LossTerms', 'depth_loss'),
    'manifest': ('MANIFEST_NAME',),
    'trainer': ('train_loop',),
    'validation': ('validate',),
    'trainable': ('TrainableDepthMaster',),
})

__all__ = ['EXECUTORS', 'FinetuneError', 'LORA_TARGETS', 'LossSettings', 'LossTerms', 'MANIFEST_NAME',
           'TrainableDepthMaster', 'TrainingOutcome', 'WorkerContext', 'configure_training', 'depth_loss', 'is_main',
           'latest_checkpoint', 'prepare_model', 'report', 'run_training', 'train_loop', 'validate', 'worker_context']
