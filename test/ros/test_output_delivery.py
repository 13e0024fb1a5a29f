"""What reliable subscribers of the node's outputs receive over default Fast DDS (no profile), each in
its own process as on a robot: a camera driver, the node, and two `depthmaster-ros monitor`s that
count the publisher's sequence gaps per output (what they never got). 640x480 at 10 Hz: 1.2 MB depth
images, so the default 512 KB shared-memory segment overflows while they pass."""
import json
from pathlib import Path
import subprocess
import sys

import pytest

from fixtures_process import CLI, start_node_process, wait_for_line, write_node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

DRIVER = Path(__file__).with_name('camera_driver.py')
SECONDS, HZ, WIDTH, HEIGHT = 10.0, 10.0, 640, 480
# Measured (2 subscribers, this machine under load): with the outputs at keep last 2 and camera_info
# published after the depth image, 7-49 % of camera_info and up to 30 % of depth images were lost;
# keep last 10, camera_info first: 0-1 of about 90 frames.
MAX_LOSS = 0.05


def without_profile():
    import os
    return {k: v for k, v in os.environ.items() if k not in ('FASTDDS_DEFAULT_PROFILES_FILE',
                                                             'FASTRTPS_DEFAULT_PROFILES_FILE')}


def test_reliable_subscribers_get_every_output_without_the_profile(tmp_path, tiny_model_dir):
    env = without_profile()
    params = write_node_params(tmp_path, tiny_model_dir, alignment_mode="'fixed'", fixed_scale=0.5, fixed_shift=0.1)
    node = start_node_process(params, env=env)
    monitors = []
    try:
        assert 'ready:' in wait_for_line(node, 'ready:', 120)
        monitors = [subprocess.Popen([CLI, 'monitor', '--once', '--json', '--duration', str(SECONDS + 10)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        driver = subprocess.run([sys.executable, str(DRIVER), str(SECONDS), str(HZ), str(WIDTH), str(HEIGHT)],
                                env=env, capture_output=True, text=True, timeout=120)
        assert driver.returncode == 0, driver.stderr
        reports = []
        for monitor in monitors:
            out, err = monitor.communicate(timeout=60)
            assert monitor.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in [node, *monitors]:
            if process.poll() is None:
                process.terminate()
                process.communicate(timeout=20)
    for report in reports:
        seen = {output['topic']: output for output in report['outputs']}
        for topic in ('/depth/camera_info', '/depth/image', '/depth/alignment'):
            output = seen[topic]
            print(f"{topic}: received {output['received']}, lost {output['lost']}")
            assert output["received"] >= SECONDS * HZ / 4, output       # the node kept up with many frames
            assert output['lost'] <= MAX_LOSS * (output['received'] + output['lost']), output
