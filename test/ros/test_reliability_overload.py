"""Overload and model faults in the running node: images faster than inference (newest frame wins,
bounded latency, drops counted and reported, flat memory), CUDA out-of-memory during inference, and
the soak tool that watches the same over minutes."""
import importlib.util
import json
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from fixtures_estimators import OutOfMemoryFirst
from fixtures_node import header_ns, status_value
from fixtures_pipeline import CAMERA_FRAME

pytestmark = pytest.mark.ros

SOAK = Path(__file__).resolve().parents[2] / 'tools' / 'soak.py'
WARN = b'\x01'


def load_soak():
    spec = importlib.util.spec_from_file_location('soak', SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def soak():
    return load_soak()


def flood(rig, frames, count, rate_hz):
    """Publish count images at rate_hz stamped with the wall clock; returns the stamps sent."""
    from depthmaster_ros.ros import messages
    stamps = []
    started = time.monotonic()
    for index in range(count):
        stamp_ns = time.time_ns()
        stamps.append(stamp_ns)
        rig.image_pub.publish(messages.image_msg(frames[index % len(frames)].rgb, 'rgb8',
                                                 messages.header_msg(stamp_ns, CAMERA_FRAME)))
        while time.monotonic() < started + (index + 1) / rate_hz:
            rig.executor.spin_once(timeout_sec=0.005)
    return stamps


def test_images_faster_than_inference_newest_wins_with_bounded_latency(start_node, tiny_estimator, frames, soak):
    from sensor_msgs.msg import Image
    inference_s = []
    estimator = soak.TimedEstimator(soak.SlowEstimator(tiny_estimator, delay_s=0.25), inference_s)
    node, rig = start_node(estimator, alignment_mode='none', diagnostics_period_s=0.2)
    receipts = {}
    rig.node.create_subscription(Image, 'depth/relative',
                                 lambda msg: receipts.setdefault(header_ns(msg), time.time_ns()), 10)
    process = psutil.Process()

    first = flood(rig, frames, 60, 30.0)                     # warm-up: allocations settle
    assert rig.spin_until(lambda: first[-1] in receipts, 20)
    rss_after_warmup = process.memory_info().rss
    stamps = flood(rig, frames, 150, 30.0)
    assert rig.spin_until(lambda: stamps[-1] in receipts, 20)          # the newest frame always comes out
    rss_end = process.memory_info().rss

    counters = node.mailbox.counters()
    sent = len(first) + len(stamps)
    assert counters['received'] == sent
    assert counters['received'] == counters['processed'] + counters['dropped']
    assert counters['dropped'] >= sent // 2                            # most frames replaced, none queued behind
    published = [stamp for stamp in first + stamps if stamp in receipts]
    assert len(published) == counters['processed'] == rig.count('depth/relative')
    assert published == sorted(receipts)                               # in stamp order, never an old one late

    # stamp -> receipt: at worst one frame ahead in the model plus its own, and a margin of one more
    bound_s = 3 * max(inference_s)
    latencies = [(receipts[s] - s) * 1e-9 for s in published]
    assert max(latencies) <= bound_s, (max(latencies), bound_s, float(np.mean(inference_s)))

    growth = (rss_end - rss_after_warmup) / rss_after_warmup
    assert growth < 0.05, f'RSS grew {100 * growth:.1f} % while flooded'

    def drops_reported():
        for array in reversed(rig.received['/diagnostics']):
            for status in array.status:
                if status.name.endswith(': pipeline'):
                    return status_value(status, 'frames_dropped') == str(counters['dropped'])
        return False
    assert rig.spin_until(drops_reported, 5)


def test_cuda_out_of_memory_steps_the_resolution_down_and_keeps_running(start_node, tiny_estimator, frames):
    estimator = OutOfMemoryFirst(tiny_estimator, failures=1)
    node, rig = start_node(estimator, alignment_mode='fixed', processing_res=512, diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 60)
    assert estimator.requested == [512, 384]                            # retried one step lower
    assert node.channels[0].pipeline.processing_res == 384
    assert node.faults.count('cuda_out_of_memory') == 1
    depth = rig.received['depth/image'][0]
    assert (depth.width, depth.height) == (128, 96)
    rig.publish_frame(frames[1], 2_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 2, 60)
    assert estimator.requested[-1] == 384                               # stays at the lower step

    def reported():
        return any(s.name.endswith(': inputs') and s.level == WARN and status_value(s, 'cuda_out_of_memory') == '1'
                   and 'retrying at 384' in (status_value(s, 'last_cuda_out_of_memory') or '')
                   for d in rig.received['/diagnostics'] for s in d.status)
    assert rig.spin_until(reported, 5)


def test_out_of_memory_at_the_lowest_step_drops_the_frame_not_the_node(start_node, tiny_estimator, frames):
    estimator = OutOfMemoryFirst(tiny_estimator, failures=2)
    node, rig = start_node(estimator, alignment_mode='fixed', processing_res=512, diagnostics_period_s=0.2)
    rig.publish_frame(frames[0], 1_000, cloud=False)
    assert rig.spin_until(lambda: node.faults.count('pipeline_error') == 1, 60)
    assert 'OutOfMemoryError' in node.faults.last_messages()['pipeline_error']
    assert rig.count('depth/relative') == 0 and node.channels[0].health.worker_error == ''
    rig.publish_frame(frames[1], 2_000, cloud=False)
    assert rig.spin_until(lambda: rig.count('depth/image') == 1, 60)
    assert header_ns(rig.received['depth/image'][0]) == 2_000
    assert estimator.requested == [512, 384, 384]


def test_soak_tool_reports_memory_latency_and_drops_and_fails_on_growth(tmp_path):
    out = tmp_path / 'soak_out'
    result = subprocess.run([sys.executable, str(SOAK), '--minutes', '0.25', '--sample-s', '3', '--warmup-s', '3',
                             '--model-delay-s', '0.1', '--out', str(out), '--max-growth-percent', '-100'],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 1, result.stdout + result.stderr        # any growth >= -100 % fails the gate
    assert 'memory grew' in result.stderr and 'Traceback' not in result.stderr
    reports = list(out.glob('soak_*.json'))
    assert len(reports) == 1
    report = json.loads(reports[0].read_text())
    assert report['depth_received'] > 0 and report['node_dropped'] > 0
    assert report['node_received'] == report['node_processed'] + report['node_dropped']
    assert 0 < report['latency_p50_s'] <= report['latency_p90_s'] <= report['latency_p99_s']
    assert report['latency_p99_s'] <= 3 * max(report['inference_mean_s'], 0.1) + 1.0
    assert report['rss_end_mb'] > 0 and len(report['samples']) >= 3
    assert 'latency stamp -> depth' in result.stdout and 'RSS' in result.stdout



def test_stop_while_the_model_is_busy_joins_the_worker_within_two_seconds(start_node, tiny_estimator, frames, soak):
    node, rig = start_node(soak.SlowEstimator(tiny_estimator, delay_s=0.5), alignment_mode='none')
    flood(rig, frames, 10, 30.0)
    assert rig.spin_until(lambda: node.mailbox.counters()['processed'] >= 1, 10)   # a frame is in the model
    started = time.monotonic()
    assert node.stop_worker(timeout_s=2.0)
    assert time.monotonic() - started < 2.0 and not node._worker.is_alive()
    assert node.mailbox.take(timeout=0) is None                                     # closed: nothing more runs
