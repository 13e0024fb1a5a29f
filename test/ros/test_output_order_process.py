"""Depth leaves the node in the order its images came, also when camera_info stops: an image that waited
for its camera_info and was overtaken by a newer one is dropped and counted, never published late (the
node as its own process, over real DDS)."""
import signal
import time

import pytest

from fixtures_process import ProcessClient, start_node_process, wait_for_line, write_node_params

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PERIOD_S = 0.1
TIMEOUT_S = 1.0          # camera_info_timeout_s


class _Camera(ProcessClient):
    """Publishes images with (or without) their camera_info and records the stamps of the depth that comes back."""

    def __init__(self, context, frame):
        from depthmaster_interfaces.msg import DepthAlignment
        from sensor_msgs.msg import CameraInfo, Image
        super().__init__(context, 'camera_for_order', depth=50)
        self.image_pub = self.publisher(Image, 'image')
        self.info_pub = self.publisher(CameraInfo, 'camera_info')
        self.stamps: list[int] = []
        self.subscribe(DepthAlignment, 'depth/alignment', self._received)
        self.frame, self.sent = frame, 0

    def _received(self, msg):
        self.stamps.append(msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec)

    def connected(self):
        return self.image_pub.get_subscription_count() > 0 and self.info_pub.get_subscription_count() > 0

    def stream(self, seconds, camera_info):
        """One image every PERIOD_S for `seconds`, each with its camera_info when `camera_info`; the last stamp."""
        from depthmaster_ros.ros import messages
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sent += 1
            header = messages.header_msg(self.sent * 100_000_000, 'camera_optical')
            if camera_info:
                self.info_pub.publish(messages.camera_info_msg(self.frame.camera.to_camera_info_fields(), header))
            self.image_pub.publish(messages.image_msg(self.frame.rgb, 'rgb8', header))
            self.spin(PERIOD_S)
        return self.sent * 100_000_000


def test_images_that_waited_for_a_stopped_camera_info_never_go_out_after_newer_ones(tmp_path, tiny_model_dir,
                                                                                   ros_context):
    from depthmaster_ros.synthetic import SyntheticScene
    params = write_node_params(tmp_path, tiny_model_dir, camera_info_timeout_s=TIMEOUT_S,
                               input_reliability="'reliable'", input_qos_depth=50)
    process = start_node_process(params, '--ros-args', '-p', 'alignment_mode:=fixed')   # metric: images wait
    camera = _Camera(ros_context, SyntheticScene(width=64, height=48).render(0.5))
    try:
        assert 'ready:' in wait_for_line(process, 'ready:', 120)
        deadline = time.monotonic() + 20
        while not camera.connected() and time.monotonic() < deadline:
            camera.spin(0.1)
        assert camera.connected()
        camera.stream(1.5, camera_info=True)
        last_with_info = camera.stamps[-1] if camera.stamps else 0
        camera.stream(3 * TIMEOUT_S + 0.5, camera_info=False)      # the camera_info driver stopped
        camera.spin(2 * TIMEOUT_S + 1.0)                          # waiting images expire (checked every second)
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    finally:
        camera.close()
        if process.poll() is None:
            process.kill()
    stamps = camera.stamps
    assert last_with_info > 0, output
    assert len([s for s in stamps if s > last_with_info]) >= 5, 'relative depth did not go on without camera_info'
    assert stamps == sorted(set(stamps)), f'depth went out of order: {stamps}'
    assert 'image stamp did not increase' not in output           # the input stamps did increase
    assert 'image_overtaken' in output, output                    # the late image was dropped and counted
