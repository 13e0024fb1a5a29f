"""Fine-tuning DepthMaster on a fleet's own recordings against their LiDAR (`depthmaster-ros finetune`).

torch is imported only by the modules that need it, Ray Train only by `ray_training` (through
`run_training(..., executor='ray')`), so importing this package stays light.
"""
from typing import TYPE_CHECKING

from ..lazy_exports import lazy_attributes
from .errors import FinetuneError

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

__getattr__ = lazy_attributes(__name__, {
    'distributed': ('EXECUTORS', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
                    'run_training', 'worker_context'),
})

__all__ = ['EXECUTORS', 'FinetuneError', 'TrainingOutcome', 'WorkerContext', 'is_main', 'prepare_model', 'report',
           'run_training', 'worker_context']
