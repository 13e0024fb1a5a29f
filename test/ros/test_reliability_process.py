"""`depthmaster-ros node` as a process meeting faults: an unusable model ends it at start-up with a
non-zero status and a message that names what is missing and how to fix it; SIGINT and SIGTERM
while frames stream in and the model is busy end it within 2 s, cleanly."""
import shutil
import signal
import time

import pytest

from fixtures_process import ProcessClient, start_node_process, wait_for_line, write_node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SHUTDOWN_LIMIT_S = 2.0


def _break_component(model):
    shutil.rmtree(model / 'vae')
    return 'vae', 'component folder missing'


def _break_weights(model):
    weights = model / 'unet' / 'diffusion_pytorch_model.safetensors'
    weights.write_bytes(weights.read_bytes()[:weights.stat().st_size // 3])
    return 'diffusion_pytorch_model.safetensors', 'corrupt'


def _break_index(model):
    (model / 'model_index.json').write_text('{not json')
    return 'model_index.json', 'not valid JSON'


@pytest.mark.parametrize('damage', [_break_component, _break_weights, _break_index])
def test_damaged_model_directory_ends_the_process_with_the_reason(tmp_path, model_copy, damage):
    what, why = damage(model_copy)
    process = start_node_process(write_node_params(tmp_path, model_copy))
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 1, output
    assert 'cannot load the model' in output and what in output and why in output
    assert 'download' in output                               # and how to fix it
    assert 'Traceback' not in output


@pytest.mark.parametrize('offline', [True, False])
def test_unreachable_hub_id_ends_the_process_with_the_reason(tmp_path, monkeypatch, offline):
    monkeypatch.setenv('HF_HOME', str(tmp_path / 'empty_hub_cache'))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1' if offline else '0')
    monkeypatch.setenv('HF_ENDPOINT', 'http://127.0.0.1:9')          # nothing listens there: refused at once
    monkeypatch.setenv('HF_HUB_ETAG_TIMEOUT', '2')
    monkeypatch.setenv('HF_HUB_DOWNLOAD_TIMEOUT', '2')
    process = start_node_process(write_node_params(tmp_path, 'nobody-here/no-such-depth-model'))
    output, _ = process.communicate(timeout=180)
    assert process.returncode == 1, output
    assert 'nobody-here/no-such-depth-model' in output and 'hf download' in output and 'model:=DIR' in output
    assert 'empty_hub_cache' in output                            # the cache it searched
    assert ('HF_HUB_OFFLINE' in output) == offline
    assert 'Traceback' not in output


class _Camera(ProcessClient):
    """Streams images to the node process over reliable DDS and counts the depth it sends back."""

    def __init__(self, context, frame):
        from sensor_msgs.msg import Image
        super().__init__(context, 'camera_for_shutdown')
        self.image_pub = self.publisher(Image, 'image')
        self.depth = []
        self.subscribe(Image, 'depth/relative', self.depth.append)
        self.frame, self.sent = frame, 0

    def publish(self):
        from depthmaster_ros.ros import messages
        self.sent += 1
        self.image_pub.publish(messages.image_msg(self.frame.rgb, 'rgb8',
                                                  messages.header_msg(self.sent * 1_000_000, 'camera_optical')))

    def stream_until(self, predicate, timeout_s, period_s=0.05):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            self.publish()
            self.executor.spin_once(timeout_sec=period_s)
        return predicate()


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_signal_while_busy_ends_the_node_within_two_seconds(tmp_path, tiny_model_dir, ros_context, sig):
    from depthmaster_ros.synthetic import SyntheticScene
    # a native-size forward of 320x240 keeps the tiny model busy for a good part of a second
    params = write_node_params(tmp_path, tiny_model_dir, processing_res=0, input_reliability="'reliable'")
    process = start_node_process(params)
    camera = _Camera(ros_context, SyntheticScene(width=320, height=240).render(0.5))
    try:
        assert 'ready:' in wait_for_line(process, 'ready:', 120)
        assert camera.stream_until(lambda: len(camera.depth) >= 2, 60), 'no depth came back'
        camera.stream_until(lambda: False, 0.3)                    # frames still arriving, the model mid-frame
        sent = time.monotonic()
        process.send_signal(sig)
        while process.poll() is None and time.monotonic() - sent < 10:
            camera.publish()
            time.sleep(0.02)
        took_s = time.monotonic() - sent
        output, _ = process.communicate(timeout=10)
    finally:
        camera.close()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert took_s < SHUTDOWN_LIMIT_S, f'shutdown took {took_s:.2f} s'
    assert 'shutting down' in output
    assert 'Traceback' not in output and 'Error' not in output.split('shutting down', 1)[1]


def test_bad_parameter_on_the_command_line_ends_the_process_naming_it(tmp_path, tiny_model_dir):
    params = write_node_params(tmp_path, tiny_model_dir)
    process = start_node_process(params, '--ros-args', '-p', 'alignment_mode:=sonar')
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 2, output
    assert 'alignment_mode' in output and 'sonar' in output
    assert 'Traceback' not in output
