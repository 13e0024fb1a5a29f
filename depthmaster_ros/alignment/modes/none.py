"""No alignment: relative depth only, by choice."""
from . import register
from .base import AlignmentMode, ModeOutcome, NoSamples, SampleRequest

REASON = 'alignment_mode is none: relative depth only'


@register
class NoAlignment(AlignmentMode):
    name = 'none'
    description = 'relative depth only; no metres, no cloud'
    needs_camera = False
    metric = False

    def samples(self, request: SampleRequest) -> ModeOutcome:
        return NoSamples(REASON)
