"""No alignment: relative depth only, by choice."""
from . import register
from .base import AlignmentMode, ModeOutcome, NoSamples, SampleRequest

REASON = 'alignment_mode is none: relative depth only'


@register('none', 'relative depth only; no metres, no cloud', needs_camera=False, metric=False)
class NoAlignment(AlignmentMode):

    def samples(self, request: SampleRequest) -> ModeOutcome:
        return NoSamples(REASON)
