"""The device check's training phase: one fine-tuning step of the full-size model, as `finetune` runs it.

The step is the training loop's own (depthmaster_ros/finetune): `TrainableDepthMaster` (the inference
forward with gradients; on CUDA bf16 autocast over fp32 trainable weights, gradient checkpointing in the
UNet), `configure_training` (LoRA rank 16 by peft on the UNet's attention and convolutions, the Fourier
Enhancement block trainable, the VAE frozen), the frozen base model's prediction for the preservation
term, `depth_loss` after the decoder against sparse LiDAR-like samples, gradient clipping and AdamW.
Measured at batch 1 and 2: peak memory and steps/s; the written targets and the GPU-hours of a 20k-step
run follow from them. On the CPU (fp32, gradient checkpointing as on CUDA) the dry run proves the step
runs, at a tiny size.
"""
import time

import numpy as np

LORA_RANK = 16
SAMPLE_SHARE = 0.05             # pixels with a LiDAR sample in the step's sparse target
# The samples' metres come from the base model's own prediction under this scale and shift (sqrt disparity),
# so a random-weight model's fits are accepted and the step does a real step's work.
TARGET_SCALE, TARGET_SHIFT = 0.8, 0.1
WARMUP_STEPS = 2
RUN_BUDGET_S = 20.0             # timed steps per batch size, at most
GRAD_CLIP = 1.0

# Written targets of issue 25 (one H100, 512 px, bf16, LoRA rank 16).
MEMORY_TARGET_GIB = 24.0        # batch 2 fits a 24 GB card
IMAGES_PER_S_TARGET = 4.0
# The run the estimate is for: E2E-FT's 20k steps at effective batch 32.
RUN_STEPS, RUN_EFFECTIVE_BATCH = 20_000, 32


def _parts(args, scratch):
    """DepthMasterParts: the tiny model's (--tiny) or the full-size architecture's with random weights,
    initialised on the device."""
    import torch

    from depthmaster_ros.model import DepthMasterParts, load_depthmaster_parts
    if args.tiny:
        from depthmaster_ros.model import write_tiny_model
        model_dir = scratch / 'tiny_model'
        if not model_dir.exists():
            write_tiny_model(model_dir, seed=0)
        return load_depthmaster_parts(model_dir)
    from diffusers import AutoencoderKL, UNet2DConditionModel

    from depthmaster_ros.model import SD2_TEXT_HIDDEN, SD2_UNET_CONFIG, SD2_VAE_CONFIG, FourierEnhancement
    torch.manual_seed(0)
    with torch.device(args.device):     # weights initialised where they run: seconds, not a minute
        return DepthMasterParts(UNet2DConditionModel(**SD2_UNET_CONFIG), AutoencoderKL(**SD2_VAE_CONFIG),
                                FourierEnhancement(SD2_UNET_CONFIG['block_out_channels'][-1]),
                                torch.randn(1, 2, SD2_TEXT_HIDDEN), scratch / 'random-full-size')


def _models(args, scratch):
    """(model being trained, frozen base, compute dtype name, trainable parameter count)."""
    import torch

    from depthmaster_ros.finetune import TrainableDepthMaster, configure_training
    compute = torch.bfloat16 if args.device == 'cuda' else torch.float32
    model = TrainableDepthMaster(_parts(args, scratch), compute, gradient_checkpointing=True).to(args.device)
    trainable = configure_training(model, LORA_RANK)
    base = TrainableDepthMaster(_parts(args, scratch), compute).to(args.device).eval().requires_grad_(False)
    return model, base, 'bf16' if compute == torch.bfloat16 else 'fp32', trainable


def _batch(args, batch, base, device):
    """Scene frames at the training size and their sparse metres (5 % of the pixels, from the base's prediction)."""
    from device_check_frames import scene_frames
    import torch

    from depthmaster_ros.model import check_processable, resize_uint8
    width, height = args.size
    new_w, new_h = check_processable(width, height, args.train_res)
    frames = np.stack([frame.rgb for frame in scene_frames(width, height, cameras=batch)])
    images = resize_uint8(torch.from_numpy(frames).permute(0, 3, 1, 2).to(device), (new_h, new_w))
    images = images.permute(0, 2, 3, 1).contiguous()
    with torch.no_grad():
        unit = base(images).float()
    metres = 1.0 / (TARGET_SCALE * unit + TARGET_SHIFT) ** 2
    generator = torch.Generator().manual_seed(batch)
    keep = (torch.rand(batch, new_h, new_w, generator=generator) < SAMPLE_SHARE).to(device)
    return images, torch.where(keep, metres, torch.full_like(metres, float('nan'))), (new_w, new_h)


def _step(model, base, optimiser, images, sparse):
    """One optimiser step of the training loop; returns the loss terms."""
    import torch

    from depthmaster_ros.finetune import LossSettings, depth_loss
    with torch.no_grad():
        reference = base(images).float()
    terms = depth_loss(model(images).float(), sparse, reference, LossSettings())
    terms.total.backward()
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], GRAD_CLIP)
    optimiser.step()
    optimiser.zero_grad(set_to_none=True)
    return terms


def training(args, scratch, report, budget, save):
    """report['training'] = {settings..., 'runs': [{batch, steps_per_s, images_per_s, peak GiB, ...}]}."""
    import torch
    started = time.perf_counter()
    model, base, dtype, trainable = _models(args, scratch)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    section = report['training'] = {
        'model': 'tiny random weights' if args.tiny else 'full-size DepthMaster, random weights', 'dtype': dtype,
        'lora_rank': LORA_RANK, 'gradient_checkpointing': True, 'res': args.train_res,
        'trainable_parameters': trainable, 'build_s': round(time.perf_counter() - started, 1),
        'runs': [], 'skipped': []}
    cuda = args.device == 'cuda'
    # The CPU dry run proves that the step runs (one untimed-warm-up-free step per batch), not its speed.
    warmup, least = (WARMUP_STEPS, 2) if cuda else (0, 1)
    for batch in args.train_batch:
        if cuda and budget.left() < RUN_BUDGET_S:
            section['skipped'].append({'batch': batch, 'reason': f'{max(budget.left(), 0):.0f} s left'})
            continue
        print(f'training step r{args.train_res} b{batch} ...', flush=True)
        images, sparse, size = _batch(args, batch, base, args.device)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        seconds, run_start = [], time.perf_counter()
        for index in range(warmup + args.iters):
            t0 = time.perf_counter()
            terms = _step(model, base, optimiser, images, sparse)
            if cuda:
                torch.cuda.synchronize()
            if index >= warmup:
                seconds.append(time.perf_counter() - t0)
            if len(seconds) >= least and time.perf_counter() - run_start > min(RUN_BUDGET_S, budget.left()):
                break
        step_s = float(np.median(seconds))
        section['runs'].append({
            'batch': batch, 'size': f'{size[0]}x{size[1]}', 'steps': len(seconds), 'loss': float(terms.total.detach()),
            'fitted_images': terms.fitted_images, 'step_ms': 1e3 * step_s, 'steps_per_s': 1 / step_s,
            'images_per_s': batch / step_s,
            'peak_allocated_gib': torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
            'peak_reserved_gib': torch.cuda.max_memory_reserved() / 2**30 if cuda else None})
        save()
    # lora_B starts at zero: non-zero now means the loss's gradient reached the adapters through the decoder
    section['adapters_trained'] = any(bool(p.detach().abs().sum() > 0) for name, p in
                                      model.unet.named_parameters() if 'lora_B' in name)
    del model, base, optimiser
    if cuda:
        torch.cuda.empty_cache()
    section['seconds'] = round(time.perf_counter() - started, 1)


def run_gpu_hours(images_per_s):
    """GPU-hours of RUN_STEPS steps at RUN_EFFECTIVE_BATCH images each, at `images_per_s` per GPU."""
    return RUN_STEPS * RUN_EFFECTIVE_BATCH / images_per_s / 3600


def training_targets(args, section):
    """PASS/FAIL of the written targets (N/A off CUDA) and the 20k-step estimate from the fastest batch."""
    runs = {run['batch']: run for run in (section or {}).get('runs', [])}
    two = runs.get(2)
    fastest = max(runs.values(), key=lambda run: run['images_per_s'], default=None)
    memory = two and two['peak_reserved_gib']
    rate = two and two['images_per_s']
    checks = []
    for name, measured, target, ok in (
            ('training peak memory (reserved) GiB, res 512, batch 2', memory, MEMORY_TARGET_GIB,
             memory is not None and memory <= MEMORY_TARGET_GIB),
            ('training images/s, res 512, batch 2', rate, IMAGES_PER_S_TARGET, rate and rate >= IMAGES_PER_S_TARGET)):
        status = ('N/A (targets are for one H100, full size)' if args.device != 'cuda' or args.tiny else
                  'NOT MEASURED' if measured is None else 'PASS' if ok else 'FAIL')
        checks.append({'check': name, 'target': target, 'measured': measured, 'status': status})
    estimate = fastest and run_gpu_hours(fastest['images_per_s'])
    checks.append({'check': f'estimate: {RUN_STEPS} steps at effective batch {RUN_EFFECTIVE_BATCH}, GPU-hours on this '
                            f'device (batch {fastest and fastest["batch"]})', 'target': 'none', 'measured': estimate,
                   'status': 'ESTIMATE' if args.device == 'cuda' and not args.tiny else 'N/A (not a full-size GPU run)'})
    return checks


def training_table(section):
    """The training rows of the check's table."""
    if not section:
        return []
    lines = [f"training: {section['model']}, {section['dtype']}, LoRA rank {section['lora_rank']}, gradient "
             f"checkpointing {'on' if section['gradient_checkpointing'] else 'off'}, "
             f"{section['trainable_parameters']:,} trainable parameters, adapters trained: "
             f"{section.get('adapters_trained')}",
             f"{'step':<26}{'size':>10}{'steps':>7}{'step ms':>10}{'steps/s':>9}{'img/s':>8}{'peak GiB':>10}"
             f"{'reserved':>10}"]
    for run in section['runs']:
        peak = 'n/a' if run['peak_allocated_gib'] is None else f"{run['peak_allocated_gib']:.2f}"
        reserved = 'n/a' if run['peak_reserved_gib'] is None else f"{run['peak_reserved_gib']:.2f}"
        lines.append(f"{'train r' + str(section['res']) + ' b' + str(run['batch']):<26}{run['size']:>10}"
                     f"{run['steps']:>7}{run['step_ms']:>10.1f}{run['steps_per_s']:>9.2f}{run['images_per_s']:>8.2f}"
                     f"{peak:>10}{reserved:>10}")
    for item in section['skipped']:
        lines.append(f"skipped train b{item['batch']}: {item['reason']}")
    return lines
