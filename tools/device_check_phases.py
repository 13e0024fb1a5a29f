"""The two phases of tools/device_check.py: correctness of the device path, then end-to-end speed."""
import time

from device_check import MODEL_TOLERANCE, POSTPROCESS_RELATIVE_TOLERANCE
from device_check_frames import CHECK_PARAMS, HEADER, FieldBuilders, consistent_cloud, frame_input, scene_frames
import numpy as np

CORRECTNESS_SIZE, CORRECTNESS_RES = (160, 120), 128
# First compilation of the full-size model, assumed before one has been measured (seconds).
FIRST_COMPILE_GUESS_S = {'full': 120.0, 'tiny': 30.0}
EAGER_RUN_BUDGET_S = 20.0
WARMUP_FRAMES = 2


def _tiny_estimator(scratch, device, dtype):
    from depthmaster_ros.model import load_estimator, write_tiny_model
    model_dir = scratch / 'tiny_model'
    if not model_dir.exists():
        write_tiny_model(model_dir, seed=0)
    return load_estimator(backend='depthmaster', model=str(model_dir), device=device, dtype=dtype)


def _relative_error(a, b):
    both = np.isfinite(a) & np.isfinite(b)
    if not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float('inf')
    if not both.any():
        return 0.0
    return float(np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-6)))


def correctness(args, scratch, budget_s):
    """{'status', 'checks': {name: {measured, tolerance, status}}}: model and post-processing."""
    from bench import usable_dtypes
    import torch

    from depthmaster_ros.alignment import apply_alignment, metric_depth_from_sparse, project_to_sparse_depth
    from depthmaster_ros.config import Config
    from depthmaster_ros.geometry import depth_to_points
    from depthmaster_ros.pipeline import DeviceMaps
    from depthmaster_ros.pipeline import device_postprocess as dp
    started = time.perf_counter()
    checks = {}
    frames = scene_frames(*CORRECTNESS_SIZE, cameras=2)
    rgbs = [frame.rgb for frame in frames]
    reference = _tiny_estimator(scratch, 'cpu', 'fp32').predict_batch(rgbs, CORRECTNESS_RES)
    dtypes, skipped = usable_dtypes(args.device, ['fp32', 'bf16'])
    for item in skipped:
        checks[f"model {item['dtype']} vs CPU fp32"] = {'status': 'SKIP', 'measured': item['reason']}
    for dtype in dtypes:
        if time.perf_counter() - started > budget_s:
            checks[f'model {dtype} vs CPU fp32'] = {'status': 'SKIP', 'measured': 'correctness budget spent'}
            continue
        estimator = _tiny_estimator(scratch, args.device, dtype)
        predictions = estimator.predict_batch(rgbs, CORRECTNESS_RES)
        diff = np.abs(np.stack([p.relative for p in predictions]) - np.stack([r.relative for r in reference]))
        measured = {'max_abs': float(diff.max()), 'mean_abs': float(diff.mean()),
                    'p99_abs': float(np.percentile(diff, 99))}
        tolerance = MODEL_TOLERANCE[dtype]
        ok = all(measured[key] <= limit for key, limit in tolerance.items())
        checks[f'model {dtype} vs CPU fp32'] = {'status': 'PASS' if ok else 'FAIL', 'measured': measured,
                                                 'tolerance': tolerance}
    # Post-processing: one device map, the numpy path on its host copy against the device path on it.
    estimator = _tiny_estimator(scratch, args.device, 'fp32')
    maps, _ = estimator.predict_tensor(np.stack(rgbs), CORRECTNESS_RES)
    host = dp.to_host(maps)
    space = estimator.space
    sparse = [project_to_sparse_depth(consistent_cloud(frame, relative, space), frame.camera,
                                      *CORRECTNESS_SIZE).depth for frame, relative in zip(frames, host)]
    settings = Config.from_params({}).alignment
    device_results = [DeviceMaps(maps[index]).fit(sparse[index], space, settings) for index in range(len(sparse))]
    worst = {'fit': 0.0, 'depth': 0.0, 'points': 0.0}
    fits_ok = True
    for index, (frame, relative) in enumerate(zip(frames, host)):
        _, result = metric_depth_from_sparse(relative, space, sparse[index], method=settings.alignment_method)
        fits_ok &= result == device_results[index] and result.ok
        # the node's default method: scale and shift maps when the local correction made them
        scale, shift = result.scale_shift() if result.ok else (1.0, 0.0)
        depth = apply_alignment(relative, space, scale, shift, settings.min_depth, settings.max_depth)
        device_depth = DeviceMaps(maps[index]).metric(space, scale, shift, settings)
        worst['depth'] = max(worst['depth'], _relative_error(dp.to_host(device_depth), depth))
        points = depth_to_points(depth, frame.camera, stride=4)
        device_points = dp.to_host(depth_to_points(device_depth, frame.camera, stride=4))
        worst['points'] = max(worst['points'], _relative_error(device_points, points))
    checks['fit: device map vs numpy'] = {'status': 'PASS' if fits_ok else 'FAIL',
                                              'measured': 'equal and accepted' if fits_ok else 'differ or rejected',
                                              'tolerance': 'equal'}
    for name in ('depth', 'points'):
        ok = worst[name] <= POSTPROCESS_RELATIVE_TOLERANCE
        checks[f'{name}: device vs numpy'] = {'status': 'PASS' if ok else 'FAIL', 'measured': worst[name],
                                              'tolerance': f'relative {POSTPROCESS_RELATIVE_TOLERANCE}'}
    del estimator, maps
    if args.device == 'cuda':
        torch.cuda.empty_cache()
    failed = [name for name, item in checks.items() if item['status'] == 'FAIL']
    return {'status': 'FAIL' if failed else 'PASS', 'checks': checks,
            'seconds': round(time.perf_counter() - started, 1)}


def _speed_estimator(args, scratch):
    import torch
    dtype = 'bf16' if args.device == 'cuda' else 'fp32'
    if args.tiny:
        return _tiny_estimator(scratch, args.device, dtype), dtype
    from depthmaster_ros.model import build_full_size, parse_dtype
    with torch.device(args.device):     # weights initialised where they run: seconds, not a minute
        return build_full_size(args.device, parse_dtype(dtype), channels_last=True), dtype


def pipelined_end_to_end_fps(batches, config, budget_s):
    """Frames per second through the pipelined frame path (forward on its stream, finish and messages
    in their own threads), the way the node runs it, over `batches` (one frame per camera each)."""
    from depthmaster_ros.pipeline import FrameJob, PipelinedFrames, frame_messages

    def emit(job, results):
        for output in results:
            if isinstance(output, Exception):
                raise output                    # a frame the check built itself must not fail
            frame_messages(output, HEADER, config.output, FieldBuilders)

    path = PipelinedFrames(emit, config.node.frames_in_flight, name='device_check')
    started, done = time.perf_counter(), 0
    for index, items in enumerate(batches):
        path.submit(FrameJob(items))
        done += len(items)
        if index >= 2 and time.perf_counter() - started > budget_s:
            break
    path.close()
    return done / (time.perf_counter() - started)


def speed(args, scratch, report, budget, save):
    """Appends one run per (mode, res, batch) to report['runs'], skipped ones to report['skipped']."""
    from timing import summarize

    from depthmaster_ros.config import Config
    from depthmaster_ros.pipeline import DepthPipeline, frame_messages, process_camera_batch
    started = time.perf_counter()
    estimator, dtype = _speed_estimator(args, scratch)
    report['speed_model'] = {'model': 'tiny random weights' if args.tiny else 'full-size DepthMaster, random weights',
                             'dtype': dtype, 'build_s': round(time.perf_counter() - started, 1)}
    frames = scene_frames(*args.size, cameras=max(args.batch))
    clouds = {}
    for res in args.res:
        predictions = estimator.predict_batch([frame.rgb for frame in frames], res)
        clouds[res] = [consistent_cloud(frame, p.relative, estimator.space) for frame, p in zip(frames, predictions)]
    modes = ['eager'] + ([args.compile_mode] if args.compile_mode != 'off' else [])
    last_compile = FIRST_COMPILE_GUESS_S['tiny' if args.tiny else 'full']
    for mode in modes:
        estimator.set_compile(False if mode == 'eager' else mode)
        for batch in args.batch:
            for res in args.res:
                name = f'{mode} r{res} b{batch}'
                needed = EAGER_RUN_BUDGET_S if mode == 'eager' else last_compile + EAGER_RUN_BUDGET_S
                if budget.left() < needed:
                    report['skipped'].append({'run': name, 'reason': f'needs about {needed:.0f} s, '
                                                                     f'{max(budget.left(), 0):.0f} s left'})
                    continue
                print(f'running {name} ...', flush=True)
                config = Config.from_params(dict(CHECK_PARAMS, processing_res=res))
                pipelines = [DepthPipeline(estimator, config, device_frames=True) for _ in range(batch)]
                compile_s = sum(estimator.warm_up([args.size], res, (batch,)).values())
                if mode != 'eager':
                    last_compile = compile_s
                run_budget = min(EAGER_RUN_BUDGET_S, budget.left())
                batch_s, model_s, accepted, total = [], [], 0, 0
                run_start = time.perf_counter()
                for index in range(WARMUP_FRAMES + args.iters):
                    items = [(pipeline, frame_input(frames[camera], clouds[res][camera], index))
                             for camera, pipeline in enumerate(pipelines)]
                    t0 = time.perf_counter()
                    outputs = process_camera_batch(items)
                    for output in outputs:
                        if isinstance(output, Exception):
                            raise output                # a frame the check built itself must not fail
                        frame_messages(output, HEADER, config.output, FieldBuilders)
                    elapsed = time.perf_counter() - t0
                    if index >= WARMUP_FRAMES:
                        batch_s.append(elapsed)
                        model_s.append(sum(v for k, v in outputs[0].timings.items() if k.startswith('model.')))
                        accepted += sum(output.record.ok for output in outputs)
                        total += len(outputs)
                    if index >= WARMUP_FRAMES + 2 and time.perf_counter() - run_start > run_budget:
                        break
                model_fps = 1e3 * batch / (float(np.median(model_s)) * 1e3)
                stamps = WARMUP_FRAMES + args.iters                 # the pipelined frames' stamps go on from here
                batches = [[(pipeline, frame_input(frames[camera], clouds[res][camera], stamps + index))
                            for camera, pipeline in enumerate(pipelines)] for index in range(len(batch_s))]
                pipelined_fps = pipelined_end_to_end_fps(batches, config, min(run_budget, max(budget.left(), 1.0)))
                frame = summarize(batch_s)
                report['runs'].append({
                    'name': name, 'mode': mode, 'processing_res': res, 'batch': batch, 'dtype': dtype,
                    'input': f'{args.size[0]}x{args.size[1]}', 'compile_s': compile_s, 'frame': frame,
                    'fps': 1e3 * batch / frame['median_ms'], 'model_share': float(np.median(model_s)) * 1e3 /
                    frame['median_ms'], 'fits_accepted': accepted, 'fits_total': total,
                    'model_fps': model_fps, 'pipelined_fps': pipelined_fps})
                save()
