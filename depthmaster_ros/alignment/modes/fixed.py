"""Fixed mode: a scale and shift from the parameters (a calibrated rig, or a known model output)."""
from . import register
from .base import AlignmentMode, FixedFit, ModeOutcome, SampleRequest


@register('fixed', 'fixed_scale and fixed_shift applied as they are')
class FixedMode(AlignmentMode):

    def samples(self, request: SampleRequest) -> ModeOutcome:
        return FixedFit(request.settings.fixed_scale, request.settings.fixed_shift)
