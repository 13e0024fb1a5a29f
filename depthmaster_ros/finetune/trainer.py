"""The training loop, one function run by every worker: `train_loop(config)`.

Each optimiser step takes `grad_accum` batches of this rank's share (`TrainingBatches.for_rank`), so the
effective batch is batch x grad_accum x workers. Batch k of step s is `batch_at(s * grad_accum + k)`: the
data position is the step, and a resumed run sees exactly the batches of an uninterrupted one. The
main rank validates (step 0 included), logs to TensorBoard, draws the progress bar, writes the
checkpoints and, at the end, the merged model, the adapter and the manifest. Ctrl-C (local runs)
finishes the step, writes a checkpoint and returns; `--resume` continues from it.

config (a plain dict, so it travels to Ray workers and into the manifest): out, base, store, train,
val (sample positions), res, batch, grad_accum, lr, steps, lora_rank (None: the whole UNet), seed,
supervision ('lidar' or 'dense', the oracle), loss ('huber' or 'l1'), preserve_weight,
checkpoint_every, validate_every, warmup_steps, alignment (the node's fit limits), resume, progress.
"""
from contextlib import ExitStack
import math
from pathlib import Path
import threading
from typing import Any

import torch

from .adapters import configure_training
from .checkpoint import latest_checkpoint, load_checkpoint, restore_rng, save_checkpoint
from .distributed import is_main, prepare_model, report, worker_context
from .errors import FinetuneError
from .loss import LossSettings, LossTerms, depth_loss
from .manifest import write_manifest
from .trainable import TrainableDepthMaster
from .validation import AlignmentLimits, held_out_scores

SUPERVISIONS = ('lidar', 'dense')
GRAD_CLIP = 1.0
DEFAULTS: dict[str, Any] = {
    'res': 512, 'batch': 2, 'grad_accum': 1, 'lr': 1e-4, 'steps': 2000, 'lora_rank': 16, 'seed': 0,
    'supervision': 'lidar', 'loss': 'huber', 'preserve_weight': 0.1, 'checkpoint_every': 500,
    'validate_every': 500, 'warmup_steps': 0, 'alignment': {}, 'resume': False, 'progress': False,
}


def full_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every default filled in, checked; a FinetuneError names the first bad key."""
    merged = {**DEFAULTS, **config}
    for key in ('out', 'base', 'store', 'train', 'val'):
        if key not in merged:
            raise FinetuneError(f'config: {key!r} is missing')
    for key in ('res', 'batch', 'grad_accum', 'steps', 'checkpoint_every', 'validate_every'):
        if isinstance(merged[key], bool) or not isinstance(merged[key], int) or merged[key] < 1:
            raise FinetuneError(f'--{key.replace("_", "-")}: expected a positive integer, got {merged[key]!r}')
    if not (isinstance(merged['lr'], (int, float)) and merged['lr'] > 0 and math.isfinite(merged['lr'])):
        raise FinetuneError(f'--lr: expected a positive number, got {merged["lr"]!r}')
    if merged['supervision'] not in SUPERVISIONS:
        raise FinetuneError(f'supervision: expected one of {SUPERVISIONS}, got {merged["supervision"]!r}')
    if not merged['train']:
        raise FinetuneError('no training frames: every usable frame went to validation or none was usable')
    return merged


def _schedule(step: int, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then constant."""
    return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


class _Run:
    """Everything one worker holds while it trains."""

    def __init__(self, config: dict[str, Any]):
        from depthmaster_ros.model import load_depthmaster_parts

        from .batches import TrainingBatches
        from .frame_store import FrameStore
        self.config = config
        self.context = worker_context()
        self.device = self.context.device
        cuda = self.device.type == 'cuda'
        torch.manual_seed(config['seed'])
        compute = torch.bfloat16 if cuda else torch.float32
        self.model = TrainableDepthMaster(load_depthmaster_parts(config['base']), compute, gradient_checkpointing=cuda)
        self.trainable_count = configure_training(self.model, config['lora_rank'])
        self.base: TrainableDepthMaster | None = None
        if config['supervision'] == 'lidar' and config['preserve_weight'] > 0:
            self.base = TrainableDepthMaster(load_depthmaster_parts(config['base']), compute).to(self.device)
            self.base.eval().requires_grad_(False)
        self.wrapped = prepare_model(self.model)
        parameters = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(parameters, lr=config['lr'], weight_decay=0.0)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: _schedule(step, config['warmup_steps']))
        self.loss_settings = LossSettings(kind=config['loss'], preserve_weight=config['preserve_weight'],
                                          seed=config['seed'], **_limits(config['alignment']))
        self.store = FrameStore(config['store'])
        self.batches = TrainingBatches(self.store, config['train'], res=config['res'], batch=config['batch'],
                                       seed=config['seed'], augment=True).for_rank(self.context.rank,
                                                                                   self.context.world_size)
        self.limits = AlignmentLimits.from_dict(config['alignment'])
        self.step = 0
        self.grad_norm = 0.0
        self.validation: list[dict[str, Any]] = []
        self.base_sha256 = ''

    def resume(self) -> None:
        folder = latest_checkpoint(self.config['out'])
        if folder is None:
            return
        state = load_checkpoint(folder)
        self.model.load_trainable_state(state['trainable'])
        self.optimizer.load_state_dict(state['optimizer'])
        self.scheduler.load_state_dict(state['scheduler'])
        self.validation = list(state['validation'])
        self.step = int(state['step'])
        restore_rng(state['rng'])

    def train_step(self) -> LossTerms:
        """One optimiser step over grad_accum batches; returns the last batch's loss terms (total: the step's)."""
        self.model.train()
        accum = self.config['grad_accum']
        total = 0.0
        terms = None
        for k in range(accum):
            batch = self.batches.batch_at(self.step * accum + k)
            images = batch.images.to(self.device)
            target = (batch.dense if self.config['supervision'] == 'dense' else batch.sparse)
            if target is None:
                raise FinetuneError('supervision dense: the training frames carry no dense ground truth')
            base = None
            if self.base is not None:
                with torch.no_grad():
                    base = self.base(images).float()
            with ExitStack() as stack:
                if k < accum - 1 and hasattr(self.wrapped, 'no_sync'):
                    stack.enter_context(self.wrapped.no_sync())  # type: ignore[operator]       # gradients all-reduced on the last one only
                pred = self.wrapped(images).float()
                terms = depth_loss(pred, target.to(self.device), base, self.loss_settings)
                (terms.total / accum).backward()
            total += float(terms.total.detach()) / accum
        if self.context.world_size > 1:       # the logged loss is the whole global batch's, as one worker's would be
            total = _mean_over_workers(total, self.device, self.context.world_size)
        # the norm of the gradient the optimiser steps with: under DDP every worker's, averaged over the global batch
        self.grad_norm = float(torch.nn.utils.clip_grad_norm_(
            [p for p in self.model.parameters() if p.requires_grad], GRAD_CLIP))
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        assert terms is not None
        terms.total = torch.tensor(total)
        return terms

    def validate(self) -> dict[str, Any]:
        samples = [self.store[i] for i in self.config['val']]
        row = {'step': self.step, **held_out_scores(self.model, samples, self.config['res'], self.limits, self.config['seed'])}
        self.validation.append(row)
        return row

    def checkpoint(self) -> Path:
        return save_checkpoint(self.config['out'], self.step, {
            'trainable': self.model.trainable_state(), 'optimizer': self.optimizer.state_dict(),
            'scheduler': self.scheduler.state_dict(), 'validation': self.validation})


def _mean_over_workers(value: float, device: torch.device, world_size: int) -> float:
    import torch.distributed as dist
    reduced = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(reduced)
    return float(reduced[0]) / world_size


def _limits(alignment: dict[str, Any]) -> dict[str, Any]:
    return {key: alignment[key] for key in ('min_depth', 'max_depth', 'min_points') if key in alignment}


def train_loop(config: dict[str, Any]) -> None:
    """Train one worker's share of the run described by `config` (see the module docstring)."""
    config = full_config(config)
    run = _Run(config)
    if config['resume']:
        run.resume()
    main = is_main()
    out = Path(config['out'])
    writer = progress = None
    with ExitStack() as stack:
        if main:
            from tensorboardX import SummaryWriter
            writer = stack.enter_context(SummaryWriter(str(out / 'tensorboard'), purge_step=run.step))
            if config['progress']:
                from tqdm import tqdm
                progress = stack.enter_context(tqdm(total=config['steps'], initial=run.step, unit='step',
                                                    dynamic_ncols=True))
        stop = _interrupt(stack)
        if main and not run.validation:
            _log_validation(writer, run.validate())
        interrupted = False
        while run.step < config['steps']:
            terms = run.train_step()
            metrics: dict[str, Any] = {'step': run.step, 'loss': float(terms.total), 'fit': terms.fit,
                                       'preserve': terms.preserve, 'lr': run.scheduler.get_last_lr()[0],
                                       'grad_norm': run.grad_norm}
            if writer is not None:
                for key in ('loss', 'fit', 'preserve', 'lr', 'grad_norm'):
                    writer.add_scalar(f'train/{key}', metrics[key], run.step)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(loss=f'{metrics["loss"]:.4f}')
            last = run.step == config['steps']
            interrupted = stop is not None and stop.requested()
            if main and (run.step % config['validate_every'] == 0 or last):
                metrics['validation'] = run.validate()
                _log_validation(writer, metrics['validation'])
            folder = None
            if run.step % config['checkpoint_every'] == 0 or last or interrupted:
                if main:
                    folder = run.checkpoint()
                    _write_manifest(run, finished=False)
            report(metrics, folder)
            if interrupted:
                break
        if main and not interrupted:
            _finish(run)


def _interrupt(stack: ExitStack) -> Any:
    """Ctrl-C asks for a checkpoint and a clean stop, where the loop owns the process's signals (local runs)."""
    if threading.current_thread() is not threading.main_thread() or worker_context().world_size > 1:
        return None
    from depthmaster_ros.commands import StopOnSigint
    return stack.enter_context(StopOnSigint('finetune: stopping after this step and writing a checkpoint '
                                            '(again to abort at once); continue later with --resume'))


def _log_validation(writer: Any, row: dict[str, Any]) -> None:
    if writer is None:
        return
    for key, value in row.items():
        if key != 'step' and isinstance(value, (int, float)) and math.isfinite(value):
            writer.add_scalar(f'validation/{key}', value, row['step'])


def _write_manifest(run: _Run, finished: bool, outputs: dict[str, str] | None = None) -> None:
    from depthmaster_ros.model import model_sha256, resolve_model_directory
    config = run.config
    if not run.base_sha256:
        run.base_sha256 = model_sha256(resolve_model_directory(config['base']))
    data = {'inputs': run.store.manifest.get('inputs', []), 'path': str(run.store.directory)}
    write_manifest(config['out'], config=config, data=data, base_sha256=run.base_sha256, steps_done=run.step,
                   world_size=run.context.world_size, validation=run.validation, outputs=outputs or {},
                   finished=finished)


def _finish(run: _Run) -> None:
    from .export import export_adapter, export_model
    outputs = {'model': export_model(run.model, run.config['base'], run.config['out']).name}
    if run.config['lora_rank'] is not None:
        outputs['adapter'] = export_adapter(run.model, run.config['lora_rank'], run.config['out']).name
    _write_manifest(run, finished=True, outputs=outputs)
