#!/usr/bin/env python3
"""Where the bag writer's time goes for one frame: message building, CDR serialisation, chunk compression.

One 640x480 frame through the pipeline (LiDAR local alignment, cloud on, the defaults; the benchmark's
stand-in forward), then its output messages as the bag tool builds them, serialised, and compressed
the way rosbags' MCAP writer compresses chunks (zstd at its default level, chunks closed above
1 MiB), against other levels, lz4, other chunk sizes and other cloud strides. Medians of --iters.

    .venv/bin/python benchmarks/writer_cost.py [--iters 20] [--out bench_out/writer_cost.json]
"""
import argparse
import json
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pipelined_path import CAMERA_FRAME, LIDAR_FRAME, stand_in  # noqa: E402

MIB = 2 ** 20


def median_ms(iters, function, *args):
    times = []
    for _ in range(iters):
        started = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - started)
    return float(np.median(times)) * 1e3


def frame_output(stride, width=640, height=480):
    from depthmaster_ros.config import Config
    from depthmaster_ros.geometry import StampedCloud
    from depthmaster_ros.pipeline import DepthPipeline, FrameInput
    from depthmaster_ros.synthetic import SyntheticScene
    config = Config.from_params({'device': 'cpu', 'cloud_stride': stride, 'lidar_frame': LIDAR_FRAME,
                                 'lidar_to_camera': [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0], 'use_tf': False})
    scene = SyntheticScene(width=width, height=height, seed=0).render(0.0)
    pipeline = DepthPipeline(stand_in(0.0, width, height), config)
    frame = FrameInput(scene.rgb, 1_000_000_000, CAMERA_FRAME, scene.camera,
                       StampedCloud(scene.lidar_points_in_camera(), LIDAR_FRAME, 1_000_000_000))
    return pipeline.process(frame), config


def measure(iters):
    from depthmaster_ros.bag import messages
    from depthmaster_ros.pipeline import frame_messages
    try:
        from compression import zstd
    except ImportError:
        from backports import zstd
    import lz4.frame
    store = messages.typestore()
    report = {'input': '640x480', 'iters': iters, 'strides': {}}
    for stride in (2, 4, 8):
        output, config = frame_output(stride)
        header = messages.header(1_000_000_000, CAMERA_FRAME)
        produced = frame_messages(output, header, config.output, messages)
        serialised = {name: bytes(store.serialize_cdr(m, m.__msgtype__)) for name, m in produced.messages}
        row = {
            'build_ms': median_ms(iters, frame_messages, output, header, config.output, messages),
            'serialize_ms': median_ms(iters, _serialise_all, store, produced.messages),
            'bytes': {name: len(data) for name, data in serialised.items()},
        }
        row['total_bytes'] = sum(row['bytes'].values())
        report['strides'][stride] = row
    # compression of the default frame (stride 4) in 1 MiB chunks, as the MCAP writer does, against the others
    data = b''.join(bytes(store.serialize_cdr(m, m.__msgtype__))
                    for _, m in frame_messages(*_default_frame(), messages).messages)
    compressions = {}
    for name, compress in (('zstd-1', lambda x: zstd.compress(x, level=1)), ('zstd-3 (default)', zstd.compress),
                           ('zstd-9', lambda x: zstd.compress(x, level=9)), ('lz4', lz4.frame.compress)):
        for chunk in (MIB // 4, MIB, 4 * MIB):
            pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
            out = sum(len(compress(piece)) for piece in pieces)
            compressions[f'{name}, chunk {chunk // 1024} KiB'] = {
                'ms': median_ms(max(3, iters // 4), _compress_all, compress, pieces),
                'ratio': len(data) / out}
    report['frame_bytes'] = len(data)
    report['compression'] = compressions
    return report


def _serialise_all(store, produced):
    return [store.serialize_cdr(message, message.__msgtype__) for _, message in produced]


def _compress_all(compress, pieces):
    return [compress(piece) for piece in pieces]


def _default_frame():
    from depthmaster_ros.bag import messages
    output, config = frame_output(4)
    return output, messages.header(1_000_000_000, CAMERA_FRAME), config.output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--out', default='bench_out/writer_cost.json')
    args = parser.parse_args(argv)
    report = measure(args.iters)
    for stride, row in report['strides'].items():
        print(f"cloud_stride {stride}: build {row['build_ms']:.2f} ms, serialise {row['serialize_ms']:.2f} ms, "
              f"{row['total_bytes'] / 1e6:.2f} MB: " + ', '.join(f'{k} {v / 1e3:.0f} kB' for k, v in row['bytes'].items()))
    print(f"one frame (stride 4): {report['frame_bytes'] / 1e6:.2f} MB serialised")
    for name, row in report['compression'].items():
        print(f"  {name:<32} {row['ms']:7.2f} ms  ratio {row['ratio']:.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
