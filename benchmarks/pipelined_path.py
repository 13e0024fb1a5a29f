"""Serial against pipelined frame path, on the CPU, with a stand-in for the GPU forward.

`StandInEstimator` is for this harness only (no backend registry entry, nothing a user can pick):
its forward sleeps a set time, which releases the GIL as a CUDA forward does while the device
works, and returns one fixed, realistic relative map (the scene's ground truth as a good model
would give it). So the host work of the frame path (fit, local correction, confidence, cloud,
messages, publishing or writing) is measured against a forward of known length.

Both paths run once with `frames_in_flight` 1 (serial) and once pipelined, in the same process:
- node: the real DepthMasterNode (rclpy publishers, its worker, its frame path); a feeder puts a
  new frame into its mailbox as soon as the last one was taken (a camera faster than the node, no
  frame dropped, so both runs see the same frames) and every output message is recorded;
- bag: `process_bag` over a 640x480 sample bag written first; the two output bags are compared
  message by message (the alignment message's two measured wall times zeroed).
"""
from pathlib import Path
import tempfile
import threading
import time

import numpy as np
from timing import summarize

CAMERA_FRAME = 'camera_optical_frame'
LIDAR_FRAME = 'lidar'


class StandInEstimator:
    """A forward of `forward_ms` that holds no GIL and returns one fixed relative map (harness only)."""

    backend = 'stand_in'
    model_id = 'stand-in'
    space = 'sqrt_disparity'

    def __init__(self, forward_ms, relative):
        import torch
        self.device = torch.device('cpu')
        self.dtype = torch.float32
        self.forward_s = forward_ms / 1e3
        self.relative = np.ascontiguousarray(relative, dtype=np.float32)

    def predict(self, rgb, processing_res=0):
        return self.predict_batch([rgb], processing_res)[0]

    def predict_batch(self, frames, processing_res=0):
        from depthmaster_ros.model import Prediction
        time.sleep(self.forward_s)
        for rgb in frames:
            if rgb.shape[:2] != self.relative.shape:
                raise ValueError(f'stand-in: made for {self.relative.shape}, got {rgb.shape[:2]}')
        return [Prediction(relative=self.relative.copy(), space=self.space) for _ in frames]

    def warm_up(self, image_sizes, processing_res, batch_sizes=(1,)):
        return {}


def stand_in(forward_ms, width, height):
    """The stand-in with the scene's relative map at width x height."""
    from depthmaster_ros.synthetic import SyntheticScene, fake_prediction
    depth = SyntheticScene(width=width, height=height, seed=0).render(0.0).depth
    relative = fake_prediction(depth, 'sqrt_disparity', np.random.default_rng(0))
    return StandInEstimator(forward_ms, np.nan_to_num(relative, nan=0.0))


def measure(paths, forward_ms, frames, width=640, height=480, in_flight=None):
    """{'node'|'bag': {serial_fps, pipelined_fps, p50_ms, p99_ms, identical, ...}} for each path asked."""
    from depthmaster_ros.config import defaults
    in_flight = in_flight or defaults()['frames_in_flight']
    estimator = stand_in(forward_ms, width, height)
    runners = {'node': _node_run, 'bag': _bag_run}
    report = {}
    for path in paths:
        print(f'pipeline {path}: serial, then {in_flight} frames in flight, {frames} frames, '
              f'stand-in forward {forward_ms} ms ...', flush=True)
        serial = runners[path](estimator, 1, frames, width, height)
        pipelined = runners[path](estimator, in_flight, frames, width, height)
        report[path] = {
            'serial_fps': serial['fps'], 'pipelined_fps': pipelined['fps'],
            'speedup': pipelined['fps'] / serial['fps'],
            # node: receipt to publish; bag: time between two written frames
            'p50_ms': pipelined['latency']['median_ms'], 'p99_ms': pipelined['latency']['p99_ms'],
            'serial_p50_ms': serial['latency']['median_ms'], 'serial_p99_ms': serial['latency']['p99_ms'],
            'identical': serial['outputs'] == pipelined['outputs'] and len(serial['outputs']) > 0,
            'frames': pipelined['frames'], 'frames_in_flight': in_flight, 'stand_in_ms': forward_ms,
            'input': f'{width}x{height}', 'stage_ms': pipelined['stage_ms'],
            'bound_fps': 1e3 / max(forward_ms, *_stage_groups(pipelined['stage_ms']).values()),
        }
    return report


def _params(in_flight):
    # defaults (LiDAR local alignment, cloud on), the lone camera's LiDAR extrinsic given as a parameter
    return {'frames_in_flight': in_flight, 'lazy': False, 'device': 'cpu', 'lidar_frame': LIDAR_FRAME,
            'lidar_to_camera': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], 'use_tf': False}


_HOST_STAGES = ('convert', 'alignment', 'confidence', 'backprojection', 'publish', 'write')


def _stage_groups(stage_ms):
    """Host ms per stage of the pipelined path: the finish (fit, confidence, cloud) and the emit (publish or write)."""
    finish = sum(stage_ms.get(key, 0.0) for key in ('alignment', 'confidence', 'backprojection'))
    return {'finish': finish, 'emit': stage_ms.get('publish', 0.0) + stage_ms.get('write', 0.0)}


def _stage_ms(timings):
    """Median ms of the host stages (from the frames' own timings)."""
    return {key: float(np.median(values)) * 1e3 for key, values in timings.items() if key in _HOST_STAGES and values}


# node ------------------------------------------------------------------------------------------------
def _node_run(estimator, in_flight, frames, width, height):
    import rclpy
    from rclpy.parameter import Parameter

    from depthmaster_ros.geometry import StampedCloud
    from depthmaster_ros.pipeline import FrameInput
    from depthmaster_ros.ros import DepthMasterNode, frame_path, messages
    from depthmaster_ros.synthetic import SyntheticScene

    scenes = [SyntheticScene(width=width, height=height, seed=seed).render(0.0) for seed in range(2)]
    context = rclpy.Context()
    rclpy.init(context=context)
    recorded, latencies, timings = [], [], {}
    done = threading.Event()

    class RecordingNode(DepthMasterNode):
        def _publish(self, channel, item, output):
            started = time.perf_counter()
            super()._publish(channel, item, output)
            timings.setdefault('publish', []).append(time.perf_counter() - started)
            for key in ('alignment', 'confidence', 'backprojection'):
                if key in output.timings:
                    timings.setdefault(key, []).append(output.timings[key])
            latencies.append(time.monotonic() - item.received_monotonic)
            recorded.append(_frame_digest(output))
            if len(recorded) >= frames:
                done.set()

    overrides = [Parameter(name, value=value) for name, value in _params(in_flight).items()]
    node = RecordingNode(estimator=estimator, context=context, parameter_overrides=overrides)
    try:
        warm = 2                                   # first frames fill per-camera caches; not timed
        for index in range(frames + warm):
            while node.mailbox.counters()['received'] > node.mailbox.counters()['processed']:
                time.sleep(0.0002)                 # the camera has a new frame as soon as the last is taken
            if index == warm:
                started = time.perf_counter()
                del recorded[:], latencies[:]
                timings.clear()
            scene = scenes[index % 2]
            stamp_ns = 1_000_000_000 + index * 50_000_000
            frame = FrameInput(scene.rgb, stamp_ns, CAMERA_FRAME, scene.camera,
                               StampedCloud(scene.lidar_points_in_camera(), LIDAR_FRAME, stamp_ns))
            node.mailbox.put(frame_path._QueuedFrame(frame, messages.header_msg(stamp_ns, CAMERA_FRAME), time.monotonic()),
                             key=node.channels[0].key)
        if not done.wait(60 + frames * 2):
            raise RuntimeError(f'node path: {len(recorded)} of {frames} frames published')
        seconds = time.perf_counter() - started
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
    return {'fps': frames / seconds, 'frames': frames, 'latency': summarize(latencies), 'outputs': recorded[:frames],
            'stage_ms': _stage_ms(timings)}


def _frame_digest(output):
    """Every published array and the fit of one frame, exactly (bytes), without the measured times."""
    import hashlib
    digest = hashlib.sha256()
    for array in (output.depth_m, output.relative, output.confidence, output.points, output.colors):
        digest.update(b'-' if array is None else np.ascontiguousarray(array).tobytes())
    record = output.record
    digest.update(repr((record.ok, record.scale, record.shift, record.reason)).encode())
    return digest.hexdigest()


# bag -------------------------------------------------------------------------------------------------
def _bag_run(estimator, in_flight, frames, width, height):
    from depthmaster_ros.bag import BagOptions, process_bag
    from depthmaster_ros.config import Config
    from depthmaster_ros.synthetic import write_sample_bag

    directory = Path(tempfile.mkdtemp(prefix='pipeline_bench_'))
    source = directory / 'in.mcap'
    write_sample_bag(source, frames=frames, width=width, height=height)
    params = {key: value for key, value in _params(in_flight).items()
              if key not in ('lidar_frame', 'lidar_to_camera', 'use_tf')}   # the sample bag carries /tf_static
    config = Config.from_params(params)
    output = directory / f'out_{in_flight}.mcap'
    written = []
    summary = process_bag(source, output, estimator, config,
                          BagOptions(progress=False, frame_done=lambda: written.append(time.perf_counter())))
    stage_ms = {stage: t.median for stage, t in summary.timing_ms.items() if stage in _HOST_STAGES}
    return {'fps': summary.frames_per_s, 'frames': summary.frames.out, 'latency': summarize(np.diff(written)),
            'outputs': _bag_messages(output),
            'stage_ms': stage_ms}


def _bag_messages(path):
    """topic -> [(log_ns, bytes)], the alignment message's measured wall times zeroed."""
    from rosbags.rosbag2 import Reader

    from depthmaster_ros.bag import typestore
    store = typestore()
    messages = {}
    with Reader(path) as reader:
        for connection, log_ns, raw in reader.messages():
            if connection.msgtype.endswith('/DepthAlignment'):
                message = store.deserialize_cdr(raw, connection.msgtype)
                message.inference_time_s = message.alignment_time_s = 0.0
                raw = bytes(store.serialize_cdr(message, connection.msgtype))
            messages.setdefault(connection.topic, []).append((log_ns, bytes(raw)))
    return messages
