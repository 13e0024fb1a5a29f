#!/usr/bin/env python3
"""Batch scaling on this machine: the same bags through `batch --executor ray` with 1 and with 2 workers.

Writes a tiny random model and a few synthetic sample bags, starts one local Ray instance with as many
CPUs as the largest worker count, and runs the whole batch (actor start and model load included) once
per worker count into separate output directories. Reports wall time, frames/s, the speed-up, the
measured per-frame time split (model vs. the bag's serial CPU work), and checks that every output of
every run carries the same messages (the DepthAlignment timing fields aside). Results go to JSON.

    .venv/bin/python benchmarks/fleet_scaling.py --bags 4 --frames 40 --json bench_out/fleet.json
"""
import argparse
import dataclasses
import json
import os
from pathlib import Path
import sys
import tempfile
import time


def bag_messages(path):
    from rosbags.rosbag2 import Reader

    from depthmaster_ros.bag import ALIGNMENT_TYPE, typestore
    store, messages = typestore(), []
    with Reader(path) as reader:
        for connection, log_ns, raw in reader.messages():
            raw = bytes(raw)
            if connection.msgtype == ALIGNMENT_TYPE:     # measured wall times: differ between any two runs
                message = store.deserialize_cdr(raw, ALIGNMENT_TYPE)
                message = dataclasses.replace(message, inference_time_s=0.0, alignment_time_s=0.0)
                raw = bytes(store.serialize_cdr(message, ALIGNMENT_TYPE))
            messages.append((connection.topic, log_ns, raw))
    return messages


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--bags', type=int, default=4)
    parser.add_argument('--frames', type=int, default=40, help='frames per bag')
    parser.add_argument('--width', type=int, default=128)
    parser.add_argument('--height', type=int, default=96)
    parser.add_argument('--processing-res', type=int, default=96)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--json', help='write the results here')
    args = parser.parse_args(argv)

    import ray

    from depthmaster_ros.bag import BagOptions
    from depthmaster_ros.config import Config
    from depthmaster_ros.fleet import RayExecutor, discover, run_batch
    from depthmaster_ros.model import write_tiny_model
    from depthmaster_ros.synthetic import write_sample_bag

    work = Path(tempfile.mkdtemp(prefix='fleet_bench_'))
    model = write_tiny_model(work / 'model', seed=0)
    for index in range(args.bags):
        write_sample_bag(work / 'in' / f'bag{index}.mcap', frames=args.frames, width=args.width,
                         height=args.height, seed=index + 1)
    config = Config.from_params({'model': str(model), 'device': 'cpu', 'dtype': 'fp32',
                                 'processing_res': args.processing_res, 'alignment_mode': 'fixed',
                                 'publish_cloud': True})
    options = BagOptions(progress=False)
    ray.init(num_cpus=max(args.workers), include_dashboard=False, logging_level='warning', log_to_driver=False)
    runs = []
    try:
        for workers in args.workers:
            out = work / f'out_{workers}'
            jobs = discover([str(work / 'in')], out)
            started = time.perf_counter()
            result = run_batch(jobs, out, config, options,
                               lambda hashes, w=workers: RayExecutor(config, options, hashes, workers=w),
                               progress=False)
            wall = time.perf_counter() - started
            records = list(result.records.values())
            from datetime import datetime
            span = (max(datetime.fromisoformat(r['finished_at']) for r in records)
                    - min(datetime.fromisoformat(r['started_at']) for r in records)).total_seconds()
            frames = sum(r['frames']['out'] for r in records)
            bag_s = sum(r['timings']['wall_s'] for r in records)
            cpu_s = sum(r['timings']['cpu_s'] for r in records)
            model_ms = [r['timings']['per_frame_ms'].get('inference', 0.0) for r in records]
            total_ms = [r['timings']['per_frame_ms'].get('total', 0.0) + r['timings']['per_frame_ms'].get('write', 0.0)
                        + r['timings']['per_frame_ms'].get('convert', 0.0) for r in records]
            runs.append({'workers': workers, 'wall_s': wall, 'frames': frames, 'frames_per_s': frames / span,
                         'processing_span_s': span, 'frames_per_s_with_start': frames / wall,
                         'bag_seconds': bag_s, 'per_frame_s': bag_s / frames, 'cpu_seconds': cpu_s,
                         'cpu_per_frame_s': cpu_s / frames,
                         'model_ms_per_frame': sum(model_ms) / len(model_ms),
                         'pipeline_ms_per_frame': sum(total_ms) / len(total_ms),
                         'failed': result.failed, 'out': str(out)})
            print(f'{workers} worker(s): {frames} frames, {span:.1f} s from first bag start to last bag end = '
                  f'{frames / span:.2f} frames/s ({wall:.1f} s with Ray actor start and model load) '
                  f'(per frame: {bag_s / frames * 1000:.0f} ms wall, {cpu_s / frames * 1000:.0f} ms CPU, '
                  f'model {runs[-1]["model_ms_per_frame"]:.0f} ms)',
                  flush=True)
    finally:
        ray.shutdown()
    base = runs[0]
    for run in runs[1:]:
        run['speedup'] = run['frames_per_s'] / base['frames_per_s']
        print(f'speed-up {base["workers"]} -> {run["workers"]} workers: {run["speedup"]:.2f}x')
    identical = all(bag_messages(Path(run['out']) / f'bag{i}.mcap') == bag_messages(Path(base['out']) / f'bag{i}.mcap')
                    for run in runs[1:] for i in range(args.bags))
    print(f'outputs identical across worker counts: {identical}; load average {os.getloadavg()[0]:.1f} '
          f'on {os.cpu_count()} CPUs (other processes share the cores)')
    results = {'args': vars(args), 'cpus': os.cpu_count(), 'load_avg_after': os.getloadavg(), 'runs': runs,
               'identical': identical}
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2) + '\n')
    return 0 if identical else 1


if __name__ == '__main__':
    sys.exit(main())
