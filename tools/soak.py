"""Long-run check of the node under overload: `python tools/soak.py --minutes N` (`make soak`).

Runs DepthMasterNode in this process over real DDS, feeds it camera images (plus camera_info and
LiDAR clouds) at a camera's rate while the model is deliberately slower than that, and records over
time: resident memory (RSS), latency from the image stamp to the receipt of its depth, and the
frames the node dropped. A leak shows up as RSS that keeps growing once the warm-up is over; the
exit status is non-zero when it grows by `--max-growth-percent` or more, or when no depth arrives.
"""
import argparse
import json
import os
from pathlib import Path
import sys
import tempfile
import threading
import time

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')   # before rclpy is imported
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from depthmaster_ros.model import DepthEstimator  # noqa: E402

CAMERA_FRAME = 'camera_optical'
LIDAR_FRAME = 'lidar'


class SlowEstimator(DepthEstimator):
    """A real estimator made slower than the camera, so frames pile up as on a busy robot."""

    def __init__(self, inner, delay_s):
        super().__init__(inner.model_id, inner.device, inner.dtype)
        self.inner, self.delay_s = inner, delay_s
        self.backend, self.space = inner.backend, inner.space

    def predict(self, rgb, processing_res=768):
        time.sleep(self.delay_s)
        return self.inner.predict(rgb, processing_res)


def percentile(values, q):
    return float(np.percentile(values, q)) if len(values) else float('nan')


class Recorder:
    """Receipt-side bookkeeping, shared by the executor thread (callbacks) and the main thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._latencies = []            # (receipt monotonic, stamp -> receipt seconds)
        self.outputs = 0

    def on_depth(self, msg):
        received_ns = time.time_ns()
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            self.outputs += 1
            self._latencies.append((time.monotonic(), (received_ns - stamp_ns) * 1e-9))

    def latencies_since(self, since_monotonic):
        with self._lock:
            return [latency for at, latency in self._latencies if at >= since_monotonic]


def start_node(context, executor, estimator, args):
    from rclpy.parameter import Parameter

    from depthmaster_ros.ros import DepthMasterNode
    lidar_to_camera = [float(v) for v in np.concatenate(args.scene_frames[0].lidar_to_camera.to_translation_quaternion())]
    params = {'device': 'cpu', 'processing_res': args.processing_res, 'alignment_mode': 'lidar',
              'lidar_to_camera': lidar_to_camera, 'lidar_frame': LIDAR_FRAME, 'use_tf': False,
              'input_reliability': 'reliable',
              'max_cloud_age_s': 0.5, 'log_throttle_s': 60.0}
    node = DepthMasterNode(estimator=estimator, context=context,
                           parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])
    executor.add_node(node)
    return node


def make_driver(context, executor, recorder):
    """The camera/LiDAR side and the listener, one node on the same executor."""
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    driver = Node('soak_driver', context=context)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    publishers = {'image': driver.create_publisher(Image, 'image', reliable),
                  'camera_info': driver.create_publisher(CameraInfo, 'camera_info', reliable),
                  'points': driver.create_publisher(PointCloud2, 'points', reliable)}
    driver.create_subscription(Image, 'depth/relative', recorder.on_depth, reliable)
    executor.add_node(driver)
    return driver, publishers


def publish_loop(args, publishers, node, recorder, started):
    """Publish at args.rate_hz until args.minutes are over; sample RSS and counters every args.sample_s."""
    from depthmaster_ros.conversions import xyz_cloud_fields
    from depthmaster_ros.ros import messages
    process = psutil.Process()
    frames = args.scene_frames
    infos = [f.camera.to_camera_info_fields() for f in frames]
    clouds = [xyz_cloud_fields(f.lidar_points) for f in frames]
    period = 1.0 / args.rate_hz
    end = started + args.minutes * 60.0
    samples, sent, tick = [], 0, 0
    next_sample = started
    window_start = started
    while True:
        now = time.monotonic()
        if now >= end:
            break
        index = tick % len(frames)
        stamp_ns = time.time_ns()
        if tick % args.cloud_every == 0:
            publishers['points'].publish(messages.cloud_msg(clouds[index], messages.header_msg(stamp_ns, LIDAR_FRAME)))
        header = messages.header_msg(stamp_ns, CAMERA_FRAME)
        publishers['camera_info'].publish(messages.camera_info_msg(infos[index], header))
        publishers['image'].publish(messages.image_msg(frames[index].rgb, 'rgb8', header))
        sent += 1
        tick += 1
        if now >= next_sample:
            latencies = recorder.latencies_since(window_start)
            counters = node.mailbox.counters()
            samples.append({'t_s': now - started, 'rss_mb': process.memory_info().rss / 2**20, 'sent': sent,
                            **counters, 'outputs': recorder.outputs, 'faults': node.faults.total(),
                            'latency_p50_s': percentile(latencies, 50), 'latency_p99_s': percentile(latencies, 99)})
            window_start = now
            next_sample += args.sample_s
        time.sleep(max(0.0, started + tick * period - time.monotonic()))
    return samples, sent


def summarise(samples, latencies, sent, node, recorder, args):
    warm = [s for s in samples if s['t_s'] >= args.warmup_s] or samples[-1:]
    baseline = float(np.median([s['rss_mb'] for s in warm[:3]]))
    final = float(np.median([s['rss_mb'] for s in samples[-3:]]))
    counters = node.mailbox.counters()
    return {
        'minutes': args.minutes, 'rate_hz': args.rate_hz, 'model_delay_s': args.model_delay_s,
        'image_size': list(args.scene_frames[0].rgb.shape[1::-1]), 'processing_res': args.processing_res,
        'warmup_s': args.warmup_s,
        'rss_start_mb': samples[0]['rss_mb'], 'rss_after_warmup_mb': baseline, 'rss_end_mb': final,
        'rss_growth_percent': 100.0 * (final - baseline) / baseline,
        'latency_p50_s': percentile(latencies, 50), 'latency_p90_s': percentile(latencies, 90),
        'latency_p99_s': percentile(latencies, 99), 'latency_max_s': max(latencies, default=float('nan')),
        'inference_mean_s': float(np.mean(node.inference_times)) if node.inference_times else float('nan'),
        'images_sent': sent, 'node_received': counters['received'], 'node_dropped': counters['dropped'],
        'node_processed': counters['processed'], 'depth_received': recorder.outputs,
        'faults': node.faults.counts(), 'samples': samples,
    }


def print_table(summary):
    print(f'{"t_min":>6} {"rss_mb":>8} {"sent":>7} {"recv":>7} {"dropped":>8} {"outputs":>8} '
          f'{"p50_ms":>7} {"p99_ms":>7}')
    for s in summary['samples']:
        print(f'{s["t_s"] / 60:6.2f} {s["rss_mb"]:8.1f} {s["sent"]:7d} {s["received"]:7d} {s["dropped"]:8d} '
              f'{s["outputs"]:8d} {1e3 * s["latency_p50_s"]:7.0f} {1e3 * s["latency_p99_s"]:7.0f}')
    print(f'RSS {summary["rss_start_mb"]:.1f} MB at start, {summary["rss_after_warmup_mb"]:.1f} MB after warm-up, '
          f'{summary["rss_end_mb"]:.1f} MB at the end: growth {summary["rss_growth_percent"]:+.2f} %')
    print(f'latency stamp -> depth: p50 {1e3 * summary["latency_p50_s"]:.0f} ms, p90 {1e3 * summary["latency_p90_s"]:.0f} ms, '
          f'p99 {1e3 * summary["latency_p99_s"]:.0f} ms, max {1e3 * summary["latency_max_s"]:.0f} ms '
          f'(mean inference {1e3 * summary["inference_mean_s"]:.0f} ms)')
    print(f'images sent {summary["images_sent"]}, received by the node {summary["node_received"]}, '
          f'dropped (newer frame won) {summary["node_dropped"]}, processed {summary["node_processed"]}, '
          f'depth received {summary["depth_received"]}; faults {summary["faults"]}')


class TimedEstimator(DepthEstimator):
    """Records how long each forward takes, for the latency bound the summary is compared with."""

    def __init__(self, inner, times):
        super().__init__(inner.model_id, inner.device, inner.dtype)
        self.inner, self.times = inner, times
        self.backend, self.space = inner.backend, inner.space

    def predict(self, rgb, processing_res=768):
        t0 = time.perf_counter()
        try:
            return self.inner.predict(rgb, processing_res)
        finally:
            self.times.append(time.perf_counter() - t0)


def run(args):
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    import torch

    from depthmaster_ros.model import load_estimator
    from depthmaster_ros.synthetic import SyntheticScene
    torch.set_num_threads(args.torch_threads)
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model
        if not model:
            from depthmaster_ros.model import write_tiny_model
            model = str(write_tiny_model(Path(scratch) / 'tiny_model', seed=0))
        inner = load_estimator(backend='depthmaster', model=model, device='cpu', dtype='fp32')
    scene = SyntheticScene(width=args.width, height=args.height)
    args.scene_frames = [scene.render(0.5 + 0.1 * i) for i in range(8)]
    inference_times = []
    estimator = TimedEstimator(SlowEstimator(inner, args.model_delay_s), inference_times)

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)    # as the node's own process runs it (ros/process.py)
    recorder = Recorder()
    node = start_node(context, executor, estimator, args)
    node.inference_times = inference_times
    _, publishers = make_driver(context, executor, recorder)
    spinning = threading.Event()
    spinning.set()

    def spin():
        while spinning.is_set() and context.ok():
            executor.spin_once(timeout_sec=0.1)
    spinner = threading.Thread(target=spin, name='soak_executor', daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 10
        while publishers['image'].get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        samples, sent = publish_loop(args, publishers, node, recorder, started)
        time.sleep(3 * args.model_delay_s + 0.5)           # let the last frame come back
        latencies = recorder.latencies_since(started + args.warmup_s) or recorder.latencies_since(started)
        summary = summarise(samples, latencies, sent, node, recorder, args)
    finally:
        node.stop_worker()
        spinning.clear()
        spinner.join(2)
        executor.shutdown(timeout_sec=1)
        for each in list(executor.get_nodes()):
            each.destroy_node()
        rclpy.shutdown(context=context)
    return summary


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=10.0, help='length of the run')
    parser.add_argument('--rate-hz', type=float, default=30.0, help='camera rate')
    parser.add_argument('--model-delay-s', type=float, default=0.1,
                        help='extra seconds each inference takes (slower than the camera on purpose)')
    parser.add_argument('--width', type=int, default=160)
    parser.add_argument('--height', type=int, default=120)
    parser.add_argument('--processing-res', type=int, default=64)
    parser.add_argument('--cloud-every', type=int, default=3, help='one LiDAR cloud per this many images')
    parser.add_argument('--model', default='', help='model directory (default: a tiny random model)')
    parser.add_argument('--torch-threads', type=int, default=1,
                        help='CPU threads of the model; more than one lets torch\'s thread pool fight the executor '
                             'threads for the cores of a small machine (default 1)')
    parser.add_argument('--sample-s', type=float, default=10.0, help='seconds between RSS samples')
    parser.add_argument('--warmup-s', type=float, default=None,
                        help='seconds ignored for memory growth and latency (default: 20 %% of the run, at most 60)')
    parser.add_argument('--max-growth-percent', type=float, default=5.0)
    parser.add_argument('--out', default='soak_out', help='folder for the JSON report')
    args = parser.parse_args(argv)
    for name in ('minutes', 'rate_hz', 'sample_s', 'width', 'height', 'cloud_every'):
        if getattr(args, name) <= 0:
            parser.error(f'--{name.replace("_", "-")} must be positive')
    if args.model_delay_s < 0:
        parser.error('--model-delay-s must not be negative')
    if args.warmup_s is None:
        args.warmup_s = min(60.0, 0.2 * args.minutes * 60.0)
    return args


def main(argv=None):
    args = parse_args(argv)
    summary = run(args)
    print_table(summary)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = out / f'soak_{time.strftime("%Y%m%d_%H%M%S")}.json'
    report.write_text(json.dumps(summary, indent=2) + '\n')
    print(f'report: {report}')
    if summary['depth_received'] == 0:
        print('FAIL: no depth was received', file=sys.stderr)
        return 1
    if summary['rss_growth_percent'] >= args.max_growth_percent:
        print(f'FAIL: memory grew {summary["rss_growth_percent"]:.2f} % after the warm-up '
              f'(limit {args.max_growth_percent:g} %)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
