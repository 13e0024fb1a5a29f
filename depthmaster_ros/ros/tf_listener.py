"""/tf and /tf_static into a TransformBuffer (tf2_ros has no pip wheel; this is the part we need).

Callbacks write the buffer on the executor thread while the worker reads it, so every access goes
through one lock (`SharedTransformBuffer`).
"""
import threading

from depthmaster_ros.geometry import TransformBuffer, store_tf_message
from depthmaster_ros.ros.qos import tf_qos, tf_static_qos


class SharedTransformBuffer:
    """A TransformBuffer behind a lock, with the same set_transform / lookup / can_transform calls."""

    def __init__(self, cache_s=10.0):
        self._buffer = TransformBuffer(cache_s=cache_s)
        self._lock = threading.Lock()

    def set_transform(self, parent_frame, child_frame, transform, stamp_ns=0, static=False):
        with self._lock:
            self._buffer.set_transform(parent_frame, child_frame, transform, stamp_ns, static)

    def lookup(self, target_frame, source_frame, stamp_ns=None, **kwargs):
        with self._lock:
            return self._buffer.lookup(target_frame, source_frame, stamp_ns, **kwargs)

    def can_transform(self, target_frame, source_frame, stamp_ns=None, **kwargs):
        with self._lock:
            return self._buffer.can_transform(target_frame, source_frame, stamp_ns, **kwargs)

    def frames(self):
        with self._lock:
            return self._buffer.frames()


class TransformListener:
    """Subscribes /tf and /tf_static (absolute names, as tf2 does) on node into buffer.

    Bad transforms are passed to on_error(message) and skipped; the rest of the message still applies.
    """

    def __init__(self, node, buffer, on_error=None, callback_group=None):
        from tf2_msgs.msg import TFMessage
        self.buffer = buffer
        self._on_error = on_error or (lambda message: None)
        self.received = 0
        self._subscriptions = [
            node.create_subscription(TFMessage, '/tf', self._dynamic, tf_qos(), callback_group=callback_group),
            node.create_subscription(TFMessage, '/tf_static', self._static, tf_static_qos(),
                                     callback_group=callback_group),
        ]

    @property
    def subscriptions(self):
        return list(self._subscriptions)

    def _dynamic(self, msg):
        self._store(msg, static=False)

    def _static(self, msg):
        self._store(msg, static=True)

    def _store(self, msg, static):
        stored, errors = store_tf_message(self.buffer, msg, static)
        self.received += stored
        for error in errors:
            self._on_error(f'{"/tf_static" if static else "/tf"} {error}')
