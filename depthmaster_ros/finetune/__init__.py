"""Fine-tuning DepthMaster on a fleet's own recordings (ROS-free; peft, tensorboardX and Ray load only where used)."""
from .augment import Augmentation, colour_jitter, flip_camera, flip_sample
from .batches import Batch, TrainingBatches, processing_grid
from .errors import FinetuneError
from .frame_store import MANIFEST, FrameStore, bag_sha256, build_frame_store
from .samples import SkippedFrame, TrainingSample, sample_from_frame
from .split import Split, split_frames

__all__ = ['Augmentation', 'Batch', 'FinetuneError', 'FrameStore', 'MANIFEST', 'SkippedFrame', 'Split',
           'TrainingBatches', 'TrainingSample', 'bag_sha256', 'build_frame_store', 'colour_jitter', 'flip_camera',
           'flip_sample', 'processing_grid', 'sample_from_frame', 'split_frames']
