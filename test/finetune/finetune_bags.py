"""Small recordings of the two synthetic domains for the fine-tuning tests, and bags edited from them."""
from pathlib import Path

from depthmaster_ros.synthetic import POINTS_TOPIC, write_sample_bag

PARAMS = """depthmaster_node:
  ros__parameters:
"""


def domain_bag(path: Path, scene: str, frames: int = 16, width: int = 96, height: int = 72, seed: int = 0,
               noise: float = 0.01) -> Path:
    """A bag of `scene` (room or street): 10 Hz, 16-beam LiDAR with `noise` relative range noise."""
    write_sample_bag(path, frames=frames, width=width, height=height, seed=seed, scene=scene, lidar_beams=16,
                     lidar_range_noise=noise)
    return path


def params_file(path: Path, **parameters: object) -> Path:
    """The node's params YAML with these parameters (what `--params FILE` passes)."""
    path.write_text(PARAMS + ''.join(f'    {name}: {value}\n' for name, value in parameters.items()))
    return path


def without_clouds(source: Path, target: Path, dropped: set[int]) -> Path:
    """A copy of `source` without the point clouds of these indices (a LiDAR dropout)."""
    from rosbags.rosbag2 import Reader, Writer

    from depthmaster_ros.bag import typestore
    with Reader(source) as reader, Writer(target, version=9) as writer:
        out = {c.id: writer.add_connection(c.topic, c.msgtype, typestore=typestore(),
                                           offered_qos_profiles=c.ext.offered_qos_profiles)
               for c in reader.connections}
        seen = 0
        for connection, log_ns, raw in reader.messages():
            if connection.topic == POINTS_TOPIC:
                seen += 1
                if seen - 1 in dropped:
                    continue
            writer.write(out[connection.id], log_ns, raw)
    return target
