"""Fine-tuning DepthMaster on a fleet's own recordings against their LiDAR (`depthmaster-ros finetune`).

torch is imported only by the modules that need it, Ray Train only by `ray_training` (through
`run_training(..., executor='ray')`), so importing this package stays light.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .errors import FinetuneError

if TYPE_CHECKING:
    from .adapters import LORA_TARGETS, configure_training
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
    from .trainable import TrainableDepthMaster

__getattr__ = lazy_attributes(__name__, {
    'distributed': ('EXECUTORS', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
                    'run_training', 'worker_context'),
    'adapters': ('LORA_TARGETS', 'configure_training'),
    'loss': ('LossSettings', 'LossTerms', 'depth_loss'),
    'trainable': ('TrainableDepthMaster',),
})

__all__ = ['EXECUTORS', 'FinetuneError', 'LORA_TARGETS', 'LossSettings', 'LossTerms', 'TrainableDepthMaster',
           'TrainingOutcome', 'WorkerContext', 'configure_training', 'depth_loss', 'is_main', 'prepare_model',
           'report', 'run_training', 'worker_context']
