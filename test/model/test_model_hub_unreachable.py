"""A hub that never answers must not hang model loading: one short request decides, then the cache.

A local socket accepts connections and never replies, the way a network that swallows packets
behaves. huggingface_hub reads its endpoint and timeouts at import, so the loader runs in a fresh
process with those set; the subprocess timeout only guards against a hang.
"""
import os
import socket
import subprocess
import sys
import threading

import pytest

LOAD = '''
from depthmaster_ros.model.loading import resolve_model_directory
try:
    resolve_model_directory('nobody-here/no-such-depth-model')
except Exception as error:
    print(type(error).__name__, error)
'''


@pytest.fixture
def silent_hub():
    """http://127.0.0.1:PORT that accepts connections and never answers."""
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.getsockname()[1]}'
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


def test_a_silent_hub_gives_a_clear_error_instead_of_a_hang(silent_hub, tmp_path):
    environment = {key: value for key, value in os.environ.items() if not key.startswith('HF_')}
    environment.update({'HF_ENDPOINT': silent_hub, 'HF_HUB_ETAG_TIMEOUT': '1', 'HF_HOME': str(tmp_path / 'hf')})
    result = subprocess.run([sys.executable, '-c', LOAD], env=environment, capture_output=True, text=True,
                            timeout=240)
    assert result.stdout.startswith('ModelLoadError'), result.stdout + result.stderr[-2000:]
    assert 'the hub could not be reached' in result.stdout and 'HF_HUB_ETAG_TIMEOUT=1 s' in result.stdout
    assert 'Timeout' in result.stdout             # it gave up waiting, it was not refused
