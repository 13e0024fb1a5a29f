"""The device check's training phase: one fine-tuning step of the full-size model, as `finetune` runs it.

LoRA rank 16 (peft) on the UNet's attention projections and convolutions, the Fourier Enhancement block
trainable, the VAE frozen; the forward of inference (timestep 1, the empty-text embedding, FE on the mid
block) with gradients, the loss after the frozen decoder (closed-form per-image scale and shift, L1 on
sparse samples), AdamW, gradient checkpointing in the UNet and the VAE. On CUDA bf16 weights with fp32
adapters; on the CPU fp32 (the dry run proves the step runs, at a tiny size). Measured at batch 1 and 2:
peak memory and steps/s; the written targets and the GPU-hours of a 20k-step run follow from them.
"""
import time

import numpy as np

LORA_RANK = 16
# The UNet's attention projections and ResNet/transformer convolutions (peft matches these name suffixes).
LORA_TARGETS = ['to_q', 'to_k', 'to_v', 'to_out.0', 'proj_in', 'proj_out', 'conv1', 'conv2', 'conv_shortcut']
SAMPLE_SHARE = 0.05             # pixels with a LiDAR sample in the step's sparse target
WARMUP_STEPS = 2
RUN_BUDGET_S = 20.0             # timed steps per batch size, at most

# Written targets of issue 25 (one H100, 512 px, bf16, LoRA rank 16).
MEMORY_TARGET_GIB = 24.0        # batch 2 fits a 24 GB card
IMAGES_PER_S_TARGET = 4.0
# The run the estimate is for: E2E-FT's 20k steps at effective batch 32.
RUN_STEPS, RUN_EFFECTIVE_BATCH = 20_000, 32


def _trainable(args, scratch):
    """(estimator holding the parts, its dtype, trainable parameters): LoRA on the UNet, FE trainable."""
    from device_check_phases import _speed_estimator
    from peft import LoraConfig, inject_adapter_in_model
    import torch
    estimator, dtype = _speed_estimator(args, scratch)
    estimator.vae.requires_grad_(False)
    estimator.unet.requires_grad_(False)
    inject_adapter_in_model(LoraConfig(r=LORA_RANK, lora_alpha=LORA_RANK, target_modules=LORA_TARGETS,
                                       init_lora_weights='gaussian'), estimator.unet)
    adapters = [p for name, p in estimator.unet.named_parameters() if 'lora_' in name]
    for parameter in adapters:
        parameter.data = parameter.data.float()        # fp32 adapters on bf16 weights (peft casts the input)
    estimator.fourier.requires_grad_(True)
    estimator.unet.enable_gradient_checkpointing()      # on the CPU too: the dry run proves the CUDA step's path
    estimator.vae.enable_gradient_checkpointing()
    torch.manual_seed(0)
    return estimator, dtype, adapters + list(estimator.fourier.parameters())


def _forward(estimator, images):
    """uint8 [B,h,w,3] at the processing size -> unit sqrt disparity [B,h,w], with gradients into the UNet and FE."""
    import torch

    from depthmaster_ros.model import decoded_to_unit, normalise
    from depthmaster_ros.model.depthmaster import LATENT_SCALE_FACTOR, TIMESTEP
    vae, unet = estimator.vae, estimator.unet
    pixels = normalise(images.permute(0, 3, 1, 2).contiguous(), estimator.dtype)
    with torch.no_grad():
        moments = vae.encoder(pixels)
        moments = moments if vae.quant_conv is None else vae.quant_conv(moments)
        latent = moments[:, :vae.config['latent_channels']] * LATENT_SCALE_FACTOR
    text = estimator.empty_text_embedding.clone().expand(latent.shape[0], -1, -1)   # made in inference mode
    timestep = torch.full((latent.shape[0],), TIMESTEP, dtype=torch.int64, device=latent.device)
    depth_latent = unet(latent, timestep, encoder_hidden_states=text).sample     # FE runs on the mid block's hook
    decoded = vae.decoder(vae.post_quant_conv(depth_latent / LATENT_SCALE_FACTOR))
    return decoded_to_unit(decoded)[:, 0]


def _aligned_l1(prediction, target, mask):
    """L1 after each image's least-squares scale and shift on its samples (the fit closed-form, detached)."""
    import torch
    losses = []
    for pred, goal, keep in zip(prediction, target, mask):
        x, y = pred[keep], goal[keep]
        design = torch.stack([x.detach(), torch.ones_like(x)], dim=1)
        scale, shift = torch.linalg.lstsq(design, y.unsqueeze(1)).solution[:, 0]
        losses.append((scale * x + shift - y).abs().mean())
    return torch.stack(losses).mean()


def _batch(args, batch, device):
    """Scene frames at the training size, a sparse target and its mask (5 % of the pixels)."""
    from device_check_frames import scene_frames
    import torch

    from depthmaster_ros.model import resize_uint8
    from depthmaster_ros.model.sizing import check_processable
    width, height = args.size
    new_w, new_h = check_processable(width, height, args.train_res)
    frames = np.stack([frame.rgb for frame in scene_frames(width, height, cameras=batch)])
    images = resize_uint8(torch.from_numpy(frames).permute(0, 3, 1, 2).to(device), (new_h, new_w))
    generator = torch.Generator().manual_seed(batch)
    target = torch.rand(batch, new_h, new_w, generator=generator).to(device)
    mask = (torch.rand(batch, new_h, new_w, generator=generator) < SAMPLE_SHARE).to(device)
    return images.permute(0, 2, 3, 1).contiguous(), target, mask, (new_w, new_h)


def training(args, scratch, report, budget, save):
    """report['training'] = {settings..., 'runs': [{batch, steps_per_s, images_per_s, peak GiB, ...}]}."""
    import torch
    started = time.perf_counter()
    estimator, dtype, trainable = _trainable(args, scratch)
    optimiser = torch.optim.AdamW(trainable, lr=1e-4)
    section = report['training'] = {
        'model': 'tiny random weights' if args.tiny else 'full-size DepthMaster, random weights', 'dtype': dtype,
        'lora_rank': LORA_RANK, 'gradient_checkpointing': True, 'res': args.train_res,
        'trainable_parameters': sum(p.numel() for p in trainable), 'build_s': round(time.perf_counter() - started, 1),
        'runs': [], 'skipped': []}
    cuda = args.device == 'cuda'
    for batch in args.train_batch:
        if budget.left() < RUN_BUDGET_S:
            section['skipped'].append({'batch': batch, 'reason': f'{max(budget.left(), 0):.0f} s left'})
            continue
        print(f'training step r{args.train_res} b{batch} ...', flush=True)
        images, target, mask, size = _batch(args, batch, args.device)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        seconds, run_start = [], time.perf_counter()
        warmup = WARMUP_STEPS if cuda else 1             # the CPU dry run times the step, not its speed
        for index in range(warmup + args.iters):
            t0 = time.perf_counter()
            loss = _aligned_l1(_forward(estimator, images), target, mask)
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
            if cuda:
                torch.cuda.synchronize()
            if index >= warmup:
                seconds.append(time.perf_counter() - t0)
            if index >= warmup + 1 and time.perf_counter() - run_start > min(RUN_BUDGET_S, budget.left()):
                break
        step_s = float(np.median(seconds))
        section['runs'].append({
            'batch': batch, 'size': f'{size[0]}x{size[1]}', 'steps': len(seconds), 'loss': float(loss),
            'step_ms': 1e3 * step_s, 'steps_per_s': 1 / step_s, 'images_per_s': batch / step_s,
            'peak_allocated_gib': torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
            'peak_reserved_gib': torch.cuda.max_memory_reserved() / 2**30 if cuda else None})
        save()
    # lora_B starts at zero: non-zero now means the loss's gradient reached the adapters through the decoder
    section['adapters_trained'] = any(bool(p.detach().abs().sum() > 0) for name, p in
                                      estimator.unet.named_parameters() if 'lora_B' in name)
    del estimator, optimiser, trainable
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
