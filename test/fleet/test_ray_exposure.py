"""The local Ray instance of `batch --executor ray` is reachable from this machine only: while a batch runs,
every listening socket of the Ray processes is on a loopback address, the instance runs with token
authentication where the installed Ray has it, and the dashboard is off."""
import ipaddress
import os
import threading

import psutil
import pytest

from depthmaster_ros.bag import BagOptions
from depthmaster_ros.config import Config
from depthmaster_ros.fleet import RayExecutor, discover, run_batch, token_auth_supported

ray = pytest.importorskip('ray')

pytestmark = pytest.mark.slow


def is_loopback(host):
    address = ipaddress.ip_address(host.split('%')[0])
    mapped = getattr(address, 'ipv4_mapped', None)
    return (mapped or address).is_loopback


class ListeningSockets(threading.Thread):
    """Every listening TCP/UDP socket of this process's descendants, polled until stopped."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen, self.environments, self.stop = set(), {}, threading.Event()

    def run(self):
        while not self.stop.wait(0.1):
            processes = {p.pid: p for p in psutil.Process().children(recursive=True)}
            for connection in psutil.net_connections(kind='inet'):
                if connection.pid in processes and (connection.status == psutil.CONN_LISTEN or not connection.raddr):
                    process = processes[connection.pid]
                    try:
                        name = process.name()
                        if name == 'gcs_server' and process.pid not in self.environments:
                            self.environments[process.pid] = process.environ()
                    except psutil.NoSuchProcess:        # it ended since the listing: its address still counts
                        name = '(ended)'
                    self.seen.add((connection.laddr.ip, connection.laddr.port, name))


def test_a_local_ray_batch_listens_on_loopback_only(make_bags, tiny_model_dir, tmp_path):
    if ray.is_initialized():
        ray.shutdown()
    inputs = make_bags({'a.mcap': 2}, corrupt=False)
    config = Config.from_params({'model': str(tiny_model_dir), 'device': 'cpu', 'dtype': 'fp32',
                                 'processing_res': 32, 'alignment_mode': 'none'})
    options, out = BagOptions(progress=False), tmp_path / 'out'
    sockets = ListeningSockets()
    sockets.start()
    try:
        result = run_batch(discover([str(inputs)], out), out, config, options,
                           lambda hashes: RayExecutor(config, options, hashes, workers=1), progress=False)
    finally:
        sockets.stop.set()
        sockets.join()
    assert result.failed == [] and result.records['a.mcap'].status == 'done'
    names = {name for _, _, name in sockets.seen}
    assert {'gcs_server', 'raylet'} <= names, names                      # the Ray processes were seen listening
    exposed = sorted(entry for entry in sockets.seen if not is_loopback(entry[0]))
    assert exposed == [], f'Ray listens outside loopback: {exposed}'
    assert not any('dashboard' in name.lower() for name in names)
    environment = next(iter(sockets.environments.values()))
    if token_auth_supported():
        assert environment.get('RAY_AUTH_MODE') == 'token'
    assert 'RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER' not in os.environ          # put back when the executor closed
