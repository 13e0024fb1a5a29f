"""`batch --executor ray` on a local Ray instance with 2 CPUs: same messages as one `process_bag` run per bag,
corrupt bags recorded, reruns do only what is missing, a worker killed mid-bag leaves nothing behind."""
import os
from pathlib import Path
import signal
import threading
import time

import pytest

from depthmaster_ros.bag import BagOptions, process_bag
from depthmaster_ros.config import Config, defaults
from depthmaster_ros.fleet import Manifest, RayExecutor, discover, run_batch
from depthmaster_ros.pipeline import load_configured_estimator

ray = pytest.importorskip('ray')

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module', autouse=True)
def local_ray():
    """One local Ray instance for the module, two CPUs, no dashboard."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level='warning', log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope='module')
def config(tiny_model_dir):
    return Config.from_params({**defaults(), 'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32',
                               'processing_res': 64, 'alignment_mode': 'fixed', 'publish_cloud': True,
                               'cloud_stride': 4})


@pytest.fixture(scope='module')
def reference(config, tmp_path_factory, one_torch_thread):
    """reference(input_bag) -> the output of one in-process process_bag run (cached per bag)."""
    estimator, outputs = load_configured_estimator(config.model), {}

    def run(bag):
        if bag not in outputs:
            outputs[bag] = tmp_path_factory.mktemp('reference') / Path(bag).name
            process_bag(bag, outputs[bag], estimator, config, BagOptions(progress=False))
        return outputs[bag]
    return run


def on_ray(config, options, **kwargs):
    return lambda hashes: RayExecutor(config, options, hashes, workers=2, **kwargs)


def test_three_bags_and_a_corrupt_one_then_a_rerun(make_bags, config, tmp_path, reference, bag_messages):
    inputs = make_bags({'a.mcap': 3, 'b.mcap': 2, 'c_dir': 3})
    options, out = BagOptions(progress=False), tmp_path / 'out'
    jobs = discover([str(inputs)], out)
    result = run_batch(jobs, out, config, options, on_ray(config, options), progress=False)

    assert result.failed == ['corrupt.mcap']
    assert 'corrupt.mcap is not a readable rosbag2' in result.records['corrupt.mcap'].reason
    assert {worker['pid'] for worker in result.workers} != {os.getpid()} and len(result.workers) == 2
    for name in ('a.mcap', 'b.mcap', 'c_dir'):
        record = result.records[name]
        assert record.status == 'done' and record.outcome.torch_threads == 1
        batch_messages = bag_messages(record.output)
        assert {topic for topic, *_ in batch_messages} >= {'/camera/depth/image', '/camera/depth/points'}
        assert batch_messages == bag_messages(reference(inputs / name)), name

    os.remove(out / 'b.mcap')
    again = run_batch(jobs, out, config, options, on_ray(config, options), progress=False)
    assert again.skipped == ['a.mcap', 'c_dir']
    assert sorted(again.records) == ['b.mcap', 'corrupt.mcap']
    assert bag_messages(out / 'b.mcap') == bag_messages(reference(inputs / 'b.mcap'))


def kill_the_first_writer(out_dir, killed, deadline_s=120.0):
    """SIGKILL the process writing the first partial output that appears under out_dir (its pid is in the name)."""
    stop = time.monotonic() + deadline_s
    while time.monotonic() < stop and not killed:
        for partial in out_dir.glob('.long.mcap.partial-*'):
            pid = int(partial.name.rsplit('-', 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.005)


def test_a_worker_killed_mid_bag_is_replaced_and_its_bag_redone(make_bags, config, tmp_path, reference,
                                                                 bag_messages):
    inputs = make_bags({'long.mcap': 30}, corrupt=False)
    options, out = BagOptions(progress=False), tmp_path / 'out'
    out.mkdir()
    killed = []
    killer = threading.Thread(target=kill_the_first_writer, args=(out, killed), daemon=True)
    killer.start()
    result = run_batch(discover([str(inputs)], out), out, config, options, on_ray(config, options), progress=False)
    killer.join()

    assert killed, 'no partial output appeared to kill its writer'
    history = [r for r in Manifest(out / 'manifest.jsonl').records() if r['name'] == 'long.mcap']
    assert [(r['attempt'], r['status']) for r in history] == [(1, 'failed'), (2, 'done')]
    assert 'worker died mid-bag' in history[0]['reason'] and history[1]['worker']['pid'] != killed[0]
    assert history[1]['removed_partials'] == [str(out / f'.long.mcap.partial-{killed[0]}')]
    assert sorted(p.name for p in out.iterdir()) == ['.batch.lock', 'long.mcap', 'manifest.jsonl']
    assert bag_messages(out / 'long.mcap') == bag_messages(reference(inputs / 'long.mcap'))
    assert result.failed == []
