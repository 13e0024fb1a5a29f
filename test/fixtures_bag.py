"""A small sample bag, the configuration to replay it with the tiny model, and helpers to read and edit bags.

The sample is written once per test module (FRAMES images at RATE Hz, WIDTH x HEIGHT, with LiDAR,
CameraInfo, ground truth and transforms); tests that change it copy it with `copy_bag` first.
"""
import dataclasses

import pytest
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from depthmaster_ros.bag import BagOptions, process_bag, typestore
from depthmaster_ros.config import Config
from depthmaster_ros.synthetic import sample_bag

FRAMES, RATE, WIDTH, HEIGHT = 6, 10.0, 96, 72
NS = '/camera'          # the output namespace: the sample's image topic's namespace


@pytest.fixture(scope='module')
def one_torch_thread():
    """The tiny model runs fastest on one thread, and the two cores are shared with other work; CPU
    inference is also bit-identical only at equal thread counts (the fleet's one-CPU Ray actors).

    Bag test modules use it for all their tests: `pytestmark = pytest.mark.usefixtures('one_torch_thread')`.
    """
    import torch
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='module')
def sample_bag_file(tmp_path_factory):
    """The sample bag (mcap), written once per module."""
    path = tmp_path_factory.mktemp('bag_in') / 'sample.mcap'
    sample_bag.write_sample_bag(path, frames=FRAMES, rate_hz=RATE, width=WIDTH, height=HEIGHT, seed=1)
    return path


@pytest.fixture(scope='module')
def bag_config(tiny_model_dir):
    """The node's defaults with the tiny model on CPU at a 64 px processing size."""
    return Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32',
                               'processing_res': 64, 'cloud_stride': 2, 'min_points': 10})


@pytest.fixture(scope='module')
def fixed_bag_config(tiny_model_dir):
    """Fixed alignment (every frame gets metres and a cloud) with the tiny model at a 32 px processing size."""
    return Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'processing_res': 32,
                               'alignment_mode': 'fixed', 'fixed_shift': 0.3, 'cloud_stride': 4})


def module_sample(frames, seed, width=64, height=48):
    """A module-scoped fixture writing that module's own small sample bag (mcap): `sample = module_sample(...)`."""
    @pytest.fixture(scope='module')
    def sample(tmp_path_factory):
        path = tmp_path_factory.mktemp('small_sample') / 'sample.mcap'
        sample_bag.write_sample_bag(path, frames=frames, rate_hz=10.0, width=width, height=height, seed=seed)
        return path
    return sample


def run(input_path, out, estimator, config, **options):
    """process_bag without a progress bar; options are BagOptions fields. Returns the summary's JSON
    layout (what --summary writes)."""
    return process_bag(input_path, out, estimator, config, BagOptions(progress=False, **options)).as_json()


def read_bag(path):
    """topic -> [(log_ns, message)] in log order, plus topic -> (type, count) from the metadata."""
    store = typestore()
    messages = {}
    with Reader(path) as reader:
        topics = {name: (info.msgtype, info.msgcount) for name, info in reader.topics.items()}
        for connection, log_ns, raw in reader.messages():
            messages.setdefault(connection.topic, []).append((log_ns, store.deserialize_cdr(raw, connection.msgtype)))
    return topics, messages


# Measured wall times inside DepthAlignment: they differ between any two runs of the same input.
TIMING_FIELDS = ('inference_time_s', 'alignment_time_s')


def messages_without_timings(path):
    """[(topic, msgtype, log_ns, raw CDR bytes)] in log order, the alignment's measured wall times zeroed."""
    from depthmaster_ros.bag import ALIGNMENT_TYPE
    store = typestore()
    messages = []
    with Reader(path) as reader:
        for connection, log_ns, raw in reader.messages():
            raw = bytes(raw)
            if connection.msgtype == ALIGNMENT_TYPE:
                message = store.deserialize_cdr(raw, ALIGNMENT_TYPE)
                message = dataclasses.replace(message, **{name: 0.0 for name in TIMING_FIELDS})
                raw = bytes(store.serialize_cdr(message, ALIGNMENT_TYPE))
            messages.append((connection.topic, connection.msgtype, log_ns, raw))
    return messages


def offered_qos(path):
    with Reader(path) as reader:
        return {c.topic: c.ext.offered_qos_profiles for c in reader.connections}


def topic_types(path):
    with Reader(path) as reader:
        return {name: info.msgtype for name, info in reader.topics.items()}


def stamp_ns(message):
    return message.header.stamp.sec * 1_000_000_000 + message.header.stamp.nanosec


def copy_bag(source, target, edit):
    """Copy a bag message by message; edit(topic, index, raw, store) returns [(topic, msgtype, raw)] to write."""
    store = typestore()
    with Reader(source) as reader, Writer(target, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
        connections, counters = {}, {}
        for connection, log_ns, raw in reader.messages():
            index = counters[connection.topic] = counters.get(connection.topic, -1) + 1
            for topic, msgtype, data in edit(connection.topic, index, bytes(raw), store):
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, msgtype, typestore=store,
                                                               offered_qos_profiles=qos.get(topic, ()))
                writer.write(connections[topic], log_ns, data)


def assert_random_weights_said(printed, weights, model_dir):
    """What the bag tool, the demo and batch say of a tiny random-weight model: the printed weights line,
    and the weights record of the summary."""
    from pathlib import Path
    assert 'weights: RANDOM' in printed
    assert weights == {'source': 'directory', 'path': str(Path(model_dir).resolve()), 'random': True}
