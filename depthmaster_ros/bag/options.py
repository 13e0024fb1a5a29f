"""The bag tool's options besides the node's parameters: which topics, which frames, where the output goes.

`depthmaster-ros bag` and `batch` build them from the same flags (`commands/bag.py`), `process_bag` reads them.
"""
from collections.abc import Callable
from dataclasses import dataclass

from depthmaster_ros.geometry import StampedCloud
from depthmaster_ros.pipeline import FrameInput, FrameOutput

from .errors import BagError
from .output import RELATIVE_CHOICES


@dataclass
class BagOptions:
    image_topic: str | None = None
    camera_info_topic: str | None = None
    points_topic: str | None = None
    use_points: bool = True
    gt_topic: str | None = None
    namespace: str | None = None       # output namespace; None: the image topic's namespace
    storage: str | None = None         # mcap | sqlite3; None: from OUT's suffix, else mcap
    compression: str | None = None     # none | lz4 | zstd; None: zstd where rosbag2 reads it back (compression.py)
    relative: str = 'all'              # depth/relative on all frames, or 'unaligned' (the CLI's default): only without depth
    copy_input: bool = False
    copy_gt: bool = True               # with copy_input, the ground-truth topic too (the CLI: only with --copy-gt)
    start_s: float = 0.0               # from the bag's first message
    duration_s: float | None = None
    every: int = 1
    force: bool = False
    contact_sheet: str | None = None   # PNG path
    contact_sheet_rows: int = 4
    label: str = ''                    # shown on the contact sheet and in the summary
    progress: bool = True
    frame_done: Callable[[], None] | None = None   # called after each selected frame (a batch's progress)
    cloud_filter: Callable[[StampedCloud], StampedCloud] | None = None   # the part of each scan the pipeline sees
    frame_output: Callable[[FrameInput, FrameOutput], None] | None = None   # each processed frame, in order (evaluation)
    output_root: str | None = None     # a batch's --out: OUT must stay inside it (bag/writing.py check_inside)

    def check(self) -> None:
        if isinstance(self.every, bool) or not isinstance(self.every, int) or self.every < 1:
            raise BagError(f'--every: must be an integer of at least 1, got {self.every!r}')
        if not self.start_s >= 0:
            raise BagError(f'--start: must not be negative, got {self.start_s}')
        if self.duration_s is not None and not self.duration_s > 0:
            raise BagError(f'--duration: must be positive, got {self.duration_s}')
        if self.contact_sheet_rows < 0:
            raise BagError(f'--contact-sheet-rows: must not be negative, got {self.contact_sheet_rows}')
        if self.relative not in RELATIVE_CHOICES:
            raise BagError(f'--relative: must be one of {", ".join(RELATIVE_CHOICES)}, got {self.relative!r}')
