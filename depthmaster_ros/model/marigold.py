"""The "marigold" backend: diffusers' MarigoldDepthPipeline behind the estimator interface.

Output is affine-invariant depth (0 = near). With an ensemble, confidence comes from the members'
spread (diffusers' uncertainty: median absolute deviation over the normalised depth range). diffusers
aligns members with scipy; without scipy the same alignment is done here in closed form.
"""
from collections.abc import Sequence
import importlib.util
from typing import TYPE_CHECKING

import numpy as np
import torch

from depthmaster_ros.alignment import Space

from .errors import ModelError, ModelLoadError
from .estimator import DepthEstimator
from .loading import check_layout, check_weights_readable, find_weights_file, load_component, resolve_model_directory
from .prediction import STAGES, TOTAL, Prediction
from .runtime import DeviceClock, Stamp, check_cpu_dtype
from .sizing import processing_size

if TYPE_CHECKING:
    # the defining modules: diffusers' top-level names are placeholder classes to a type checker
    from diffusers.pipelines.marigold.pipeline_marigold_depth import MarigoldDepthPipeline

    from .loading import ModelSource

MARIGOLD_COMPONENTS = ('unet', 'vae', 'scheduler', 'text_encoder', 'tokenizer')
# A spread (MAD) of this fraction of the depth range or more means confidence 0.
SPREAD_AT_ZERO_CONFIDENCE = 0.1
# Fixed noise seed so that a frame always gives the same prediction.
NOISE_SEED = 0


def spread_to_confidence(spread: np.ndarray) -> np.ndarray:
    return np.clip(1.0 - spread / SPREAD_AT_ZERO_CONFIDENCE, 0.0, 1.0).astype(np.float32)


def ensemble_members(members: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form twin of diffusers' ensemble_depth (median reduction): [E,1,H,W] -> depth, spread.

    Each member is aligned (scale, shift) by least squares to the members' median, the aligned
    median is taken, and both it and the median absolute deviation are normalised to the depth range.
    """
    reference = members.median(dim=0).values.flatten()
    design = torch.stack([reference, torch.ones_like(reference)], dim=1)
    aligned_members = []
    for member in members:
        # member ~ a*reference + b  =>  aligned = (member - b) / a
        solution = torch.linalg.lstsq(design.double(), member.flatten().double()[:, None]).solution[:, 0]
        scale = solution[0].clamp(min=1e-6)
        aligned_members.append(((member.double() - solution[1]) / scale).to(members.dtype))
    aligned = torch.stack(aligned_members)
    depth = aligned.median(dim=0).values
    spread = (aligned - depth).abs().median(dim=0).values
    low, depth_range = depth.min(), (depth.max() - depth.min()).clamp(min=1e-6)
    return (depth - low) / depth_range, spread / depth_range


class MarigoldEstimator(DepthEstimator):
    """Affine-invariant depth (0 = near) from diffusers' Marigold pipeline."""

    backend = 'marigold'
    space = Space.DEPTH

    def __init__(self, pipeline: 'MarigoldDepthPipeline', *, model_id: str, device: str | torch.device,
                 dtype: torch.dtype, steps: int = 4, ensemble_size: int = 1, timing: bool = True):
        super().__init__(model_id, torch.device(device), dtype, timing)
        if not isinstance(steps, int) or steps < 1:
            raise ModelError(f'marigold_steps: expected an integer >= 1, got {steps!r}')
        if not isinstance(ensemble_size, int) or ensemble_size < 1:
            raise ModelError(f'marigold_ensemble_size: expected an integer >= 1, got {ensemble_size!r}')
        check_cpu_dtype(self.device, dtype)
        self.steps = steps
        self.ensemble_size = ensemble_size
        self.pipeline = pipeline.to(self.device)
        self.pipeline.set_progress_bar_config(disable=True)
        self._diffusers_ensembles = importlib.util.find_spec('scipy') is not None
        self._clock = DeviceClock(self.device)
        self._stage_marks: list[tuple[str, str, Stamp]] | None = None   # a list while a frame is timed per stage
        for module, stage in ((pipeline.vae.encoder, 'vae_encode'), (pipeline.unet, 'unet'),
                              (pipeline.vae.decoder, 'vae_decode')):
            module.register_forward_pre_hook(lambda *_, s=stage: self._mark(s, 'start'))
            module.register_forward_hook(lambda *_, s=stage: self._mark(s, 'end'))

    def _mark(self, stage: str, edge: str) -> None:
        if self._stage_marks is not None:
            self._stage_marks.append((stage, edge, self._clock.stamp()))

    def _predict_same_size(self, frames: Sequence[np.ndarray | torch.Tensor], processing_res: int,
                           per_stage: bool | None = None) -> list[Prediction]:
        timed = self._per_stage(per_stage)
        return [self._predict_one(rgb, processing_res, timed) for rgb in frames]

    def _predict_one(self, rgb: np.ndarray | torch.Tensor, processing_res: int, per_stage: bool) -> Prediction:
        processing_size(8, 8, processing_res)  # type and sign checks, naming processing_res
        if processing_res % 8:
            raise ModelError(f'processing_res: Marigold needs 0 (native) or a multiple of 8, got {processing_res!r}')
        if isinstance(rgb, torch.Tensor):
            rgb = rgb.cpu().numpy()   # the diffusers pipeline takes its own tensor layout; numpy is unambiguous
        self._stage_marks = [] if per_stage else None
        started = self._clock.stamp()
        generator = torch.Generator(device=self.device).manual_seed(NOISE_SEED)
        ensemble_here = self.ensemble_size > 1 and not self._diffusers_ensembles
        output = self.pipeline(
            [rgb] * self.ensemble_size if ensemble_here else rgb,
            num_inference_steps=self.steps,
            ensemble_size=1 if ensemble_here else self.ensemble_size,
            processing_resolution=processing_res,
            batch_size=self.ensemble_size,
            generator=generator,
            output_type='pt',
            output_uncertainty=self.ensemble_size > 1 and not ensemble_here,
        )
        depth, spread = output.prediction, output.uncertainty
        if ensemble_here:
            depth, spread = ensemble_members(depth.float())
        relative = depth.float()[..., 0, :, :].reshape(rgb.shape[:2]).cpu().numpy()
        confidence = None
        if spread is not None:
            confidence = spread_to_confidence(spread.float().reshape(rgb.shape[:2]).cpu().numpy())
        finished = self._clock.stamp()
        self._clock.wait(finished)
        if per_stage:
            timings = self._stage_timings(started, finished)
        else:
            timings = {TOTAL: self._clock.seconds(started, finished)}
        self._stage_marks = None
        return Prediction(relative=np.ascontiguousarray(relative, dtype=np.float32), space=self.space,
                          confidence=confidence, timings=timings)

    def _stage_timings(self, started: Stamp, finished: Stamp) -> dict[str, float]:
        """Per-stage sums from the module hooks; pre/post are the time before the first and after the last."""
        seconds = self._clock.seconds
        timings = dict.fromkeys(STAGES, 0.0)
        opened: dict[str, Stamp] = {}
        for stage, edge, stamp in self._stage_marks or ():
            if edge == 'start':
                opened[stage] = stamp
            elif stage in opened:
                timings[stage] += seconds(opened.pop(stage), stamp)
        if self._stage_marks:
            timings['preprocess'] = seconds(started, self._stage_marks[0][2])
            timings['postprocess'] = seconds(self._stage_marks[-1][2], finished)
        return timings


def load_marigold(model: 'ModelSource', device: str | torch.device, dtype: torch.dtype, steps: int = 4,
                  ensemble_size: int = 1, timing: bool = True) -> MarigoldEstimator:
    from diffusers import MarigoldDepthPipeline

    directory = resolve_model_directory(model)
    check_layout(directory, MARIGOLD_COMPONENTS)
    for component in ('unet', 'vae', 'text_encoder'):
        check_weights_readable(find_weights_file(directory / component))
    pipeline = load_component('Marigold pipeline', directory,
                               lambda: MarigoldDepthPipeline.from_pretrained(directory, dtype=dtype))
    if pipeline.unet.config.in_channels != 8:
        raise ModelLoadError(
            f'{directory / "unet" / "config.json"}: in_channels {pipeline.unet.config.in_channels}, Marigold '
            'needs 8 (image latent + depth latent); is this a DepthMaster checkpoint? use backend "depthmaster"')
    return MarigoldEstimator(pipeline, model_id=str(model), device=device, dtype=dtype, steps=steps,
                             ensemble_size=ensemble_size, timing=timing)


def load_marigold_estimator(model: 'ModelSource', device: str | torch.device, dtype: torch.dtype, *,
                            marigold_steps: int = 4, marigold_ensemble_size: int = 1,
                            timing: bool = True) -> MarigoldEstimator:
    """The marigold backend's loader; its options carry the node's parameter names."""
    return load_marigold(model, device, dtype, steps=marigold_steps, ensemble_size=marigold_ensemble_size,
                         timing=timing)
