#!/usr/bin/env python3
"""`make bench`: where the time of one depth frame goes, stage by stage, on this machine's device.

A frame is timed the way the node handles it: Image message -> rgb, model (preprocess, VAE encode,
UNet, VAE decode, postprocess), alignment (LiDAR projection + scale/shift fit), point cloud, and the
rclpy Image/PointCloud2 construction. Each configuration of the sweep (input size x processing
resolution x dtype x batch) runs the optimised path; the naive baseline (eager fp32, numpy
post-processing) runs in the same process on the same inputs, so speed-ups are side-by-side ratios.
The CPU-side plumbing alone (no model) is measured separately against its 5 ms budget.

The default model is the full-size DepthMaster architecture with random weights (same FLOPs as the
real one; timings do not depend on weight values). `--model` times real weights, `--tiny` a tiny
random model (for the harness test only).
"""
import argparse
import gc
import json
import os
from pathlib import Path
import platform
import sys
import tempfile
import time
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from frames import make_frame  # noqa: E402
from postprocess_paths import NumpyPostprocess, TorchPostprocess  # noqa: E402
from timing import StageTimer, summarize  # noqa: E402

MODEL_STAGES = ('preprocess', 'vae_encode', 'unet', 'vae_decode', 'postprocess')
STAGES = ('convert',) + MODEL_STAGES + ('alignment', 'point_cloud', 'message_build')
PLUMBING_STAGES = ('convert', 'alignment', 'point_cloud', 'message_build')
# the CPU work of a 640x480 frame with the global fit; the local correction may add at most 3 ms to it
PLUMBING_TARGET_MS = {'global': 3.0, 'local': 3.0 + 3.0}
SLOW_FRAME_S = 2.0   # frames slower than this print a progress line (full-size model on a CPU)

# Per-device defaults: the CPU ones keep a full-size run to a few minutes on two cores.
DEVICE_DEFAULTS = {
    'cpu': dict(inputs='640x480', res='384', dtypes='fp32', batch='1', warmup=1, iters=2, compile='off'),
    'cuda': dict(inputs='640x480,1280x720', res='384,512,768', dtypes='bf16,fp16,fp32', batch='1,4',
                 warmup=3, iters=20, compile='reduce-overhead'),
}

# Targets on one H100/H200 for 640x480 bf16 batch 1 (checked only on CUDA, never asserted in tests).
FPS_TARGETS = ((512, 50.0), (768, 20.0))
MODEL_SHARE_TARGET = 0.80
SPEEDUP_TARGET = 5.0

CPU_NOTE = ('CPU NUMBERS ARE NOT THE PRODUCT TARGET: DepthMaster runs on a GPU on the robot; a CPU run '
            'only proves the harness and measures the CPU-side plumbing.')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', choices=('cpu', 'cuda'), help='default: cuda when available, else cpu')
    parser.add_argument('--inputs', help='input sizes WxH, comma separated (cpu: 640x480)')
    parser.add_argument('--res', help='processing resolutions, comma separated (cpu: 384)')
    parser.add_argument('--dtypes', help='bf16,fp16,fp32 (cpu: fp32; unusable ones are skipped with a reason)')
    parser.add_argument('--batch', help='batch sizes (frames of N cameras per forward), comma separated')
    parser.add_argument('--warmup', type=int, help='untimed frames per configuration')
    parser.add_argument('--iters', type=int, help='timed frames per configuration')
    parser.add_argument('--compile', choices=('off', 'default', 'reduce-overhead', 'max-autotune',
                                              'max-autotune-no-cudagraphs'),
                        help='torch.compile mode of the optimised path (cpu: off; cuda: reduce-overhead)')
    parser.add_argument('--no-channels-last', action='store_true', help='keep NCHW on the optimised path')
    parser.add_argument('--postprocess', choices=('auto', 'torch', 'numpy'), default='auto',
                        help='post-processing of the optimised path: auto = torch (the pipeline device path) on cuda, '
                             'numpy on cpu, where the numpy reference is the faster one')
    parser.add_argument('--model', help='real weights: a model directory or hub id (already cached)')
    parser.add_argument('--tiny', action='store_true', help='tiny random model (harness test only)')
    parser.add_argument('--no-baseline', action='store_true', help='skip the naive eager fp32 baseline')
    parser.add_argument('--plumbing-size', default='640x480', help='frame size of the plumbing measurement')
    parser.add_argument('--plumbing-iters', type=int, default=50, help='frames of the plumbing measurement')
    parser.add_argument('--no-plumbing', action='store_true', help='skip the plumbing measurement')
    parser.add_argument('--alignment-method', choices=('global', 'local'), default='global',
                        help='alignment_method of the plumbing measurement (local adds its correction maps)')
    parser.add_argument('--no-model', action='store_true', help='plumbing only: no model is built')
    parser.add_argument('--encoding', default='bgr8', choices=('bgr8', 'rgb8'), help='camera Image encoding')
    parser.add_argument('--stand-in-ms', type=float,
                        help='serial against pipelined frame path with a stand-in forward of this many ms (no GIL '
                             'held) instead of the model sweep; see --path')
    parser.add_argument('--path', default='node,bag', help='frame paths of --stand-in-ms: node, bag or node,bag')
    parser.add_argument('--pipeline-frames', type=int, default=60, help='timed frames per --stand-in-ms run')
    parser.add_argument('--out', default='bench_out/bench.json', help='JSON report path')
    args = parser.parse_args(argv)
    if args.model and args.tiny:
        parser.error('--model and --tiny are exclusive')
    args.path = [name.strip() for name in args.path.split(',')]
    if set(args.path) - {'node', 'bag'} or (args.stand_in_ms is not None and not args.stand_in_ms > 0):
        parser.error('--path: node, bag or node,bag; --stand-in-ms: positive')
    return fill_device_defaults(args, parser)


def fill_device_defaults(args, parser):
    import torch
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device')
    for name, value in DEVICE_DEFAULTS[args.device].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    for flag, name, parse in (('--inputs', 'inputs', parse_size), ('--res', 'res', int), ('--batch', 'batch', int)):
        try:
            setattr(args, name, [parse(text) for text in getattr(args, name).split(',')])
        except ValueError as error:
            parser.error(f'{flag}: {error}')
    try:
        args.plumbing_size = parse_size(args.plumbing_size)
    except ValueError as error:
        parser.error(f'--plumbing-size: {error}')
    args.dtypes = [text.strip() for text in args.dtypes.split(',')]
    unknown = [name for name in args.dtypes if name not in ('fp32', 'fp16', 'bf16')]
    if unknown:
        parser.error(f'--dtypes: unknown {unknown}; choose from bf16, fp16, fp32')
    for flag, bad in (('--res', min(args.res) < 0), ('--batch', min(args.batch) < 1), ('--iters', args.iters < 1),
                      ('--warmup', args.warmup < 0), ('--plumbing-iters', args.plumbing_iters < 1)):
        if bad:
            parser.error(f'{flag}: out of range (res >= 0, batch/iters/plumbing-iters >= 1, warmup >= 0)')
    return args


def parse_size(text):
    try:
        width, height = (int(part) for part in text.lower().split('x'))
    except ValueError:
        raise ValueError(f'size {text!r} is not WIDTHxHEIGHT') from None
    if width < 1 or height < 1:
        raise ValueError(f'size {text!r} must be positive')
    return width, height


def environment(args):
    """Everything a reader needs to compare two reports: device, library versions, threads."""
    import diffusers
    import torch
    info = {
        'device': args.device,
        'device_name': cpu_name(),
        'torch': torch.__version__,
        'cuda': torch.version.cuda,
        'cudnn': torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        'diffusers': diffusers.__version__,
        'numpy': np.__version__,
        'python': platform.python_version(),
        'torch_threads': torch.get_num_threads(),
        'cpu_count': os.cpu_count(),
        'cpu_name': cpu_name(),
    }
    if args.device == 'cuda':
        info['device_name'] = torch.cuda.get_device_name()
        info['gpu_memory_gib'] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info


def cpu_name():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_fast_bf16():
    try:
        flags = Path('/proc/cpuinfo').read_text()
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def usable_dtypes(device, requested):
    """(usable, skipped) where skipped lists {'dtype', 'reason'} for dtypes this device cannot run well."""
    import torch
    usable, skipped = [], []
    for name in requested:
        reason = None
        if device == 'cpu' and name == 'fp16':
            reason = 'fp16 convolutions on the CPU are emulated and far slower than fp32'
        elif device == 'cpu' and name == 'bf16' and not cpu_has_fast_bf16():
            reason = 'this CPU has no AVX512-BF16/AMX: a bf16 UNet forward takes minutes'
        elif device == 'cuda' and name == 'bf16' and not torch.cuda.is_bf16_supported():
            reason = 'this GPU does not support bf16'
        if reason:
            skipped.append({'dtype': name, 'reason': reason})
        else:
            usable.append(name)
    return usable, skipped


class ModelSource:
    """Builds estimators for the sweep: full-size random weights, real weights, or a tiny model."""

    def __init__(self, args):
        self.args = args
        self._tiny_dir = None
        if args.tiny:
            from depthmaster_ros.model import write_tiny_model
            self._tiny_dir = tempfile.TemporaryDirectory(prefix='bench_tiny_')
            write_tiny_model(self._tiny_dir.name, seed=0)

    @property
    def label(self):
        if self.args.tiny:
            return 'tiny random weights (harness test)'
        if self.args.model:
            return self.args.model
        return 'full-size DepthMaster architecture, random weights'

    def build(self, dtype, naive):
        options = engine_options(self.args, naive)
        if self.args.tiny or self.args.model:
            from depthmaster_ros.model import load_estimator
            source = self._tiny_dir.name if self.args.tiny else self.args.model
            return load_estimator(backend='depthmaster', model=source, device=self.args.device, dtype=dtype,
                                  **options)
        from depthmaster_ros.model import build_full_size, parse_dtype
        return build_full_size(self.args.device, parse_dtype(dtype), **options)

    def close(self):
        if self._tiny_dir is not None:
            self._tiny_dir.cleanup()


def engine_options(args, naive):
    """The model engine's optimisation flags for the optimised path, or its naive mode."""
    if naive:
        return {'naive': True}
    # The engine's `compile` takes False, True or a torch.compile mode name.
    return {'channels_last': not args.no_channels_last, 'compile': False if args.compile == 'off' else args.compile}


def optimised_postprocess(args, params):
    use_torch = args.postprocess == 'torch' or (args.postprocess == 'auto' and args.device == 'cuda')
    return TorchPostprocess(params, args.device) if use_torch else NumpyPostprocess(params)


def processing_params():
    """The node's own defaults for alignment and the cloud, so the bench times what the robot runs."""
    from depthmaster_ros.config import defaults
    return defaults()


def run_frames(estimator, post, frames_by_batch, processing_res, warmup, iters, timer_factory):
    """Times `iters` batches after `warmup` untimed ones; returns (StageTimer, end-to-end seconds).

    What is built per frame follows the node's defaults: depth/image, depth/relative when
    publish_relative is on, and the point cloud.
    """
    from depthmaster_ros.conversions import image_to_rgb8, xyz_cloud_fields
    from depthmaster_ros.ros import cloud_msg, image_msg

    publish_relative = post.params['publish_relative']
    timer = timer_factory()
    end_to_end = []
    for index in range(warmup + iters):
        frames = frames_by_batch[index % len(frames_by_batch)]
        scratch = timer_factory()
        start = time.perf_counter()
        with scratch.stage('convert'):
            rgbs = [image_to_rgb8(frame.image_msg) for frame in frames]
        predictions = post.predict(estimator, rgbs, processing_res)
        for stage in MODEL_STAGES:
            scratch.add(stage, predictions[0].timings.get(stage, float('nan')))
        with scratch.stage('alignment'):
            metrics = post.align(predictions, frames, scratch)
        with scratch.stage('point_cloud'):
            clouds = [xyz_cloud_fields(points) for points in post.points(metrics, frames)]
        with scratch.stage('message_build'):
            relatives = post.relative_maps(predictions) if publish_relative else [None] * len(frames)
            for frame, metric, relative, cloud in zip(frames, metrics, relatives, clouds):
                image_msg(metric, '32FC1', frame.header)
                if relative is not None:
                    image_msg(relative, '32FC1', frame.header)
                cloud_msg(cloud, frame.header)
        elapsed = time.perf_counter() - start
        if elapsed > SLOW_FRAME_S:
            print(f"  {'warm-up' if index < warmup else 'timed'} frame {index + 1}/{warmup + iters}: "
                  f'{elapsed:.1f} s', flush=True)
        if index >= warmup:
            end_to_end.append(elapsed)
            for name, values in scratch.samples.items():
                timer.samples[name].extend(values)
    return timer, end_to_end


def run_summary(name, kind, size, res, dtype, batch, timer, end_to_end, options, fits):
    """One row of the report; per-batch stage times, per-frame time and FPS, model share of the frame."""
    stages = timer.summary()
    e2e = summarize(end_to_end)
    per_frame_ms = e2e['median_ms'] / batch
    model_ms = sum(stages[stage]['median_ms'] for stage in MODEL_STAGES if stage in stages)
    return {
        'name': name, 'kind': kind, 'input': f'{size[0]}x{size[1]}', 'processing_res': res, 'dtype': dtype,
        'batch': batch, 'options': options, 'stages': stages, 'end_to_end_per_batch': e2e,
        'per_frame_ms': per_frame_ms, 'fps': 1e3 / per_frame_ms, 'model_share': model_ms / e2e['median_ms'],
        'alignment_fits': dict(fits),
    }


class FixedPredictionModel:
    """Stands in for the model when only the plumbing is timed: one precomputed relative map."""

    def __init__(self, relative, space):
        self.prediction = SimpleNamespace(relative=relative, space=space, timings={}, confidence=None)

    def predict(self, rgb, processing_res):
        return self.prediction


def lidar_coverage(frame, params):
    """Fraction of image pixels holding a LiDAR sample after projection and the occlusion filter."""
    from depthmaster_ros.alignment import project_to_sparse_depth
    height, width = frame.depth_gt.shape
    sparse = project_to_sparse_depth(frame.lidar_points_cam, frame.camera, width, height,
                                     min_depth=params['min_depth'], max_depth=params['max_depth'],
                                     occlusion_window=params['occlusion_window_px'],
                                     occlusion_rel_threshold=params['occlusion_rel_threshold'])
    return float(np.isfinite(sparse.depth).mean())


def measure_plumbing(args, params, timer_factory):
    """CPU-side work per frame without the model: conversion, alignment, cloud, messages."""
    from depthmaster_ros.synthetic import fake_prediction
    width, height = args.plumbing_size
    frame = make_frame(width, height, seed=0, encoding=args.encoding)
    # A good model's output: GT sqrt-disparity with unknown scale/shift, smooth distortion and noise;
    # where the scene has no surface (open top) the model would say "far": 0.
    relative = fake_prediction(frame.depth_gt, 'sqrt_disparity', np.random.default_rng(0))
    model = FixedPredictionModel(np.nan_to_num(relative, nan=0.0), 'sqrt_disparity')
    # One untimed frame first: it fills per-camera caches (pixel rays) as the node's first frame does.
    post = NumpyPostprocess(dict(params, alignment_method=args.alignment_method))
    timer, end_to_end = run_frames(model, post, [[frame]], 0, 1, args.plumbing_iters, timer_factory)
    stages = {name: value for name, value in timer.summary().items() if name not in MODEL_STAGES}
    total = sum(stages[name]['median_ms'] for name in PLUMBING_STAGES)
    target = PLUMBING_TARGET_MS[args.alignment_method]
    leaves = {name: value['median_ms'] for name, value in stages.items() if name != 'alignment'}
    return {
        'input': f'{width}x{height}', 'alignment_method': args.alignment_method,
        'lidar_points': len(frame.lidar_points_cam),
        'lidar_coverage': lidar_coverage(frame, params),
        'cloud_stride': params['cloud_stride'], 'cloud_organized': params['cloud_organized'], 'stages': stages,
        'sum_of_stage_medians_ms': total, 'end_to_end': summarize(end_to_end), 'target_ms': target,
        'status': 'PASS' if total <= target else 'FAIL', 'dominant_stage': max(leaves, key=leaves.get),
        'alignment_fits': dict(post.fits),
    }


def target_checks(args, runs):
    """PASS/FAIL lines for the GPU targets; on the CPU they are reported as not applicable."""
    checks = []
    optimised = {(r['input'], r['processing_res'], r['dtype'], r['batch']): r for r in runs if r['kind'] == 'optimised'}
    baseline = {(r['input'], r['processing_res']): r for r in runs if r['kind'] == 'naive_baseline'}

    def add(name, measured, target, higher_is_better=True):
        if args.device != 'cuda':
            status = 'N/A (targets are for one H100/H200)'
        elif measured is None:
            status = 'NOT MEASURED (configuration not in this sweep)'
        else:
            status = 'PASS' if (measured >= target if higher_is_better else measured <= target) else 'FAIL'
        checks.append({'check': name, 'target': target, 'measured': measured, 'status': status})

    for res, fps in FPS_TARGETS:
        run = optimised.get(('640x480', res, 'bf16', 1))
        add(f'end-to-end FPS, 640x480 bf16 batch 1, res {res}', run and run['fps'], fps)
    for res, _ in FPS_TARGETS:
        run = optimised.get(('640x480', res, 'bf16', 1))
        add(f'model share of frame time, res {res}', run and run['model_share'], MODEL_SHARE_TARGET)
        base = baseline.get(('640x480', res))
        speedup = run and base and base['per_frame_ms'] / run['per_frame_ms']
        add(f'speed-up vs naive eager fp32, res {res}', speedup, SPEEDUP_TARGET)
    return checks


def speedups(runs):
    baseline = {(r['input'], r['processing_res']): r for r in runs if r['kind'] == 'naive_baseline'}
    rows = []
    for run in runs:
        base = baseline.get((run['input'], run['processing_res']))
        if run['kind'] == 'optimised' and base:
            rows.append({'run': run['name'], 'baseline': base['name'],
                         'speedup': base['per_frame_ms'] / run['per_frame_ms']})
    return rows


def print_report(report):
    env = report['environment']
    print(f"\ndevice: {env['device']} ({env['device_name']}), torch {env['torch']}, CUDA {env['cuda']}, "
          f"cuDNN {env['cudnn']}, diffusers {env['diffusers']}, threads {env['torch_threads']}/{env['cpu_count']}")
    print(f"model: {report['settings']['model']}")
    for note in report['notes']:
        print(f'NOTE: {note}')
    for skipped in report['skipped']:
        print(f"skipped dtype {skipped['dtype']}: {skipped['reason']}")
    columns = STAGES + ('frame', 'FPS', 'model%')
    header = f"{'run':<40}" + ''.join(f'{name[:11]:>12}' for name in columns)
    if report['runs']:
        print('\nmedian ms per batch (p90 in the JSON); frame = end to end per frame')
        print(header)
        for run in report['runs']:
            cells = [run['stages'].get(stage, {}).get('median_ms', float('nan')) for stage in STAGES]
            cells += [run['per_frame_ms'], run['fps'], 100 * run['model_share']]
            print(f"{run['name']:<40}" + ''.join(f'{value:12.2f}' for value in cells))
    for row in report['speedups']:
        print(f"speed-up {row['run']} vs {row['baseline']}: {row['speedup']:.2f}x")
    plumbing = report.get('plumbing')
    if plumbing:
        print(f"\nCPU plumbing per {plumbing['input']} frame (no model, {plumbing['alignment_method']} alignment), "
              'median ms:')
        for name, stats in plumbing['stages'].items():
            print(f"  {name:<24}{stats['median_ms']:8.3f}   p90 {stats['p90_ms']:.3f}")
        print(f"  {'sum of stages':<24}{plumbing['sum_of_stage_medians_ms']:8.3f}   target <= "
              f"{plumbing['target_ms']} ms: {plumbing['status']} (largest: {plumbing['dominant_stage']})")
    overlap = report.get('upload_overlap')
    if overlap:
        print(f"\nnext frame's upload on a side stream during the model: upload {overlap['upload_ms']:.3f} ms, "
              f"back to back {overlap['sequential_ms']:.2f} ms, overlapped {overlap['overlapped_ms']:.2f} ms, "
              f"hidden {overlap['hidden_ms']:.3f} ms")
    for path, row in report.get('pipeline', {}).items():
        print(f"\npipelined frame path, {path}, {row['input']}, stand-in forward {row['stand_in_ms']} ms: serial "
              f"{row['serial_fps']:.1f} FPS, pipelined {row['pipelined_fps']:.1f} FPS ({row['speedup']:.2f}x, "
              f"{row['frames_in_flight']} in flight), p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, "
              f"identical {row['identical']}; host stages (median ms): "
              + ', '.join(f'{name} {ms:.1f}' for name, ms in row['stage_ms'].items()))
    for check in report['targets']:
        measured = 'n/a' if check['measured'] is None else f"{check['measured']:.2f}"
        print(f"{check['status']}: {check['check']}: measured {measured}, target {check['target']}")


def main(argv=None):
    args = parse_args(argv)
    import torch
    synchronize = torch.cuda.synchronize if args.device == 'cuda' else None

    def timer_factory():
        return StageTimer(synchronize)

    params = processing_params()
    dtypes, skipped = usable_dtypes(args.device, args.dtypes)
    notes = [CPU_NOTE] if args.device == 'cpu' else []
    if args.device == 'cpu':
        print(f'\n*** {CPU_NOTE} ***\n', flush=True)
    source = None if args.no_model or args.stand_in_ms else ModelSource(args)
    report = {
        'schema': 'depthmaster_ros.bench/1',
        'environment': environment(args),
        'settings': {
            'inputs': [f'{w}x{h}' for w, h in args.inputs], 'processing_res': args.res, 'dtypes': dtypes,
            'batch': args.batch, 'warmup': args.warmup, 'iters': args.iters, 'compile': args.compile,
            'channels_last': not args.no_channels_last, 'encoding': args.encoding, 'postprocess': args.postprocess,
            'model': source.label if source else None, 'baseline': not args.no_baseline and not args.no_model,
            'cloud_stride': params['cloud_stride'], 'cloud_organized': params['cloud_organized'],
        },
        'notes': notes, 'skipped': skipped, 'runs': [],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save():
        report['speedups'] = speedups(report['runs'])
        report['targets'] = target_checks(args, report['runs'])
        out.write_text(json.dumps(report, indent=2, allow_nan=True))

    # The plumbing first: seconds, and in the report even if a long model sweep is interrupted.
    if not args.no_plumbing:
        report['plumbing'] = measure_plumbing(args, params, timer_factory)
        save()
    if args.stand_in_ms:
        from pipelined_path import measure
        report['pipeline'] = measure(args.path, args.stand_in_ms, args.pipeline_frames, *args.plumbing_size)
        save()
    try:
        if source is not None:
            report['upload_overlap'] = sweep(args, source, dtypes, params, timer_factory, report['runs'], save)
    finally:
        if source is not None:
            source.close()
    save()
    print_report(report)
    print(f'\nwrote {out}')
    return 0


def sweep(args, source, dtypes, params, timer_factory, runs, save):
    """Optimised runs for every configuration, then the naive baseline per input size and resolution.

    Appends to `runs` and calls `save()` after each; returns the upload overlap (CUDA only, else None).
    """
    overlap = None
    groups = 2   # frames alternate between two groups so no run sees one frame only
    cameras = max(args.batch)
    frames = {size: [[make_frame(*size, seed=group * cameras + camera, encoding=args.encoding)
                      for camera in range(cameras)] for group in range(groups)] for size in args.inputs}
    for dtype in dtypes:
        estimator = source.build(dtype, naive=False)
        for size in args.inputs:
            for res in args.res:
                for batch in args.batch:
                    post = optimised_postprocess(args, params)
                    name = f'opt {size[0]}x{size[1]} r{res} {dtype} b{batch}'
                    print(f'running {name} ...', flush=True)
                    batches = [group[:batch] for group in frames[size]]
                    timer, e2e = run_frames(estimator, post, batches, res, args.warmup, args.iters, timer_factory)
                    runs.append(run_summary(name, 'optimised', size, res, dtype, batch, timer, e2e,
                                            dict(engine_options(args, False), postprocess=post.name), post.fits))
                    save()
        if args.device == 'cuda' and overlap is None:
            from upload_overlap import measure_upload_overlap
            size = args.inputs[0]
            overlap = dict(measure_upload_overlap(estimator, [frames[size][0][0].rgb], args.res[0], args.iters),
                           input=f'{size[0]}x{size[1]}', processing_res=args.res[0], dtype=dtype)
        del estimator
        release_device_memory()
    if not args.no_baseline:
        estimator = source.build('fp32', naive=True)
        for size in args.inputs:
            for res in args.res:
                post = NumpyPostprocess(params)
                name = f'naive {size[0]}x{size[1]} r{res} fp32 b1'
                print(f'running {name} ...', flush=True)
                batches = [group[:1] for group in frames[size]]
                timer, e2e = run_frames(estimator, post, batches, res, args.warmup, args.iters, timer_factory)
                runs.append(run_summary(name, 'naive_baseline', size, res, 'fp32', 1, timer, e2e,
                                        dict(engine_options(args, True), postprocess=post.name), post.fits))
                save()
        del estimator
        release_device_memory()
    return overlap


def release_device_memory():
    import torch
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


if __name__ == '__main__':
    sys.exit(main())
