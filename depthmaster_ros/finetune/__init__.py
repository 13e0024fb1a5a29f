"""Fine-tuning DepthMaster on a fleet's own recordings (ROS-free; peft, tensorboardX and Ray load only where used)."""
from .errors import FinetuneError
from .frame_store import MANIFEST, FrameStore, bag_sha256, build_frame_store
from .samples import SkippedFrame, TrainingSample, sample_from_frame

__all__ = ['FinetuneError', 'FrameStore', 'MANIFEST', 'SkippedFrame', 'TrainingSample', 'bag_sha256',
           'build_frame_store', 'sample_from_frame']
