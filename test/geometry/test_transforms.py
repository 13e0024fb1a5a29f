"""RigidTransform algebra and the time-indexed TransformBuffer."""
from geometry_msgs.msg import TransformStamped
import numpy as np
import pytest

from depthmaster_ros.geometry import GeometryError, RigidTransform, TransformBuffer, optical_from_body, rotation_about

SECOND = 1_000_000_000


def random_transform(rng):
    q = rng.normal(size=4)
    return RigidTransform.from_translation_quaternion(rng.normal(size=3), q)


def test_quaternion_is_normalised_and_round_trips():
    rng = np.random.default_rng(1)
    q = rng.normal(size=4)
    a = RigidTransform.from_translation_quaternion([1, 2, 3], q)
    b = RigidTransform.from_translation_quaternion([1, 2, 3], 7.5 * q)
    np.testing.assert_allclose(a.rotation, b.rotation, atol=1e-12)
    t, q_back = a.to_translation_quaternion()
    q_unit = q / np.linalg.norm(q) * np.sign(q[3])
    np.testing.assert_allclose(q_back, q_unit, atol=1e-12)
    np.testing.assert_allclose(t, [1, 2, 3])


@pytest.mark.parametrize('q', [[0, 0, 0, 0], [np.nan, 0, 0, 1], [0, 0, 1]])
def test_bad_quaternion_raises(q):
    with pytest.raises(ValueError, match='quaternion'):
        RigidTransform.from_translation_quaternion([0, 0, 0], q)


def test_rotation_about_z_by_quarter_turn():
    t = RigidTransform.from_translation_quaternion([0, 0, 0], [0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])
    np.testing.assert_allclose(t.apply([[1.0, 0.0, 0.0]]), [[0.0, 1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(t.rotation, rotation_about('z', np.pi / 2), atol=1e-12)


def test_composition_inverse_and_matrix():
    rng = np.random.default_rng(2)
    a, b = random_transform(rng), random_transform(rng)
    points = rng.normal(size=(10, 3))
    np.testing.assert_allclose((a @ b).apply(points), a.apply(b.apply(points)), atol=1e-12)
    np.testing.assert_allclose((a @ a.inverse()).as_matrix(), np.eye(4), atol=1e-12)
    np.testing.assert_allclose(RigidTransform.from_matrix(a.as_matrix()).as_matrix(), a.as_matrix())
    with pytest.raises(ValueError, match='points'):
        a.apply(np.zeros((4, 2)))
    with pytest.raises(ValueError, match='matrix'):
        RigidTransform.from_matrix(np.ones((4, 4)))


def test_optical_from_body_follows_rep_103():
    t = optical_from_body()
    forward, left, up = np.eye(3)
    np.testing.assert_allclose(t.apply([forward, left, up]), [[0, 0, 1], [-1, 0, 0], [0, -1, 0]])


def transform_from_msg(msg):
    tr, rot = msg.transform.translation, msg.transform.rotation
    return RigidTransform.from_translation_quaternion([tr.x, tr.y, tr.z], [rot.x, rot.y, rot.z, rot.w])


def test_buffer_chains_a_real_transform_message_both_ways():
    msg = TransformStamped()
    msg.header.frame_id, msg.child_frame_id = 'base_link', 'camera_optical'
    msg.transform.translation.x, msg.transform.translation.z = 0.2, 1.0
    msg.transform.rotation.x, msg.transform.rotation.w = 0.0, 1.0
    buffer = TransformBuffer()
    base_from_camera = transform_from_msg(msg)
    buffer.set_transform(msg.header.frame_id, msg.child_frame_id, base_from_camera, static=True)
    odom_from_base = RigidTransform(rotation_about('z', 0.3), [1.0, 2.0, 0.0])
    buffer.set_transform('odom', 'base_link', odom_from_base, stamp_ns=5 * SECOND)
    buffer.set_transform('base_link', 'lidar', RigidTransform(np.eye(3), [0.0, 0.0, 1.3]), static=True)
    point = np.array([[0.0, 0.0, 2.0]])      # 2 m in front of the camera
    odom_from_camera = buffer.lookup('odom', 'camera_optical', 5 * SECOND)
    np.testing.assert_allclose(odom_from_camera.apply(point), odom_from_base.apply(base_from_camera.apply(point)))
    camera_from_odom = buffer.lookup('camera_optical', 'odom', 5 * SECOND)
    np.testing.assert_allclose(camera_from_odom.as_matrix(), odom_from_camera.inverse().as_matrix(), atol=1e-12)
    camera_from_lidar = buffer.lookup('camera_optical', 'lidar')            # siblings under base_link
    np.testing.assert_allclose(camera_from_lidar.apply([[0.0, 0.0, 0.0]]), [[-0.2, 0.0, 0.3]], atol=1e-12)
    assert buffer.can_transform('lidar', 'odom', 5 * SECOND)


def test_lookup_interpolates_translation_and_rotation():
    buffer = TransformBuffer()
    buffer.set_transform('odom', 'base', RigidTransform(np.eye(3), [0.0, 0.0, 0.0]), stamp_ns=1 * SECOND)
    buffer.set_transform('odom', 'base', RigidTransform(rotation_about('z', 0.8), [2.0, 0.0, 0.0]), stamp_ns=2 * SECOND)
    middle = buffer.lookup('odom', 'base', stamp_ns=1_250_000_000)
    np.testing.assert_allclose(middle.translation, [0.5, 0.0, 0.0])
    np.testing.assert_allclose(middle.rotation, rotation_about('z', 0.2), atol=1e-12)


def test_lookup_outside_the_samples_uses_tolerance_then_fails_clearly():
    buffer = TransformBuffer()
    buffer.set_transform('odom', 'base', RigidTransform(np.eye(3), [1.0, 0.0, 0.0]), stamp_ns=10 * SECOND)
    buffer.set_transform('odom', 'base', RigidTransform(np.eye(3), [2.0, 0.0, 0.0]), stamp_ns=11 * SECOND)
    near = buffer.lookup('odom', 'base', 11 * SECOND + 50_000_000, tolerance_ns=100_000_000)
    np.testing.assert_allclose(near.translation, [2.0, 0.0, 0.0])
    with pytest.raises(LookupError, match=r"'base' -> 'odom'.*13000000000.*2 samples"):
        buffer.lookup('odom', 'base', 13 * SECOND)
    assert not buffer.can_transform('odom', 'base', 13 * SECOND)
    np.testing.assert_allclose(buffer.lookup('odom', 'base').translation, [2.0, 0.0, 0.0])   # latest


def test_unconnected_frames_name_what_is_known():
    buffer = TransformBuffer()
    buffer.set_transform('odom', 'base', RigidTransform.identity(), static=True)
    with pytest.raises(LookupError, match=r"'camera' -> 'odom'.*known frames: base, odom"):
        buffer.lookup('odom', 'camera')


def test_old_samples_leave_the_cache_and_loops_are_refused():
    buffer = TransformBuffer(cache_s=2.0)
    for second in range(6):
        buffer.set_transform('odom', 'base', RigidTransform(np.eye(3), [second, 0.0, 0.0]), stamp_ns=second * SECOND)
    assert not buffer.can_transform('odom', 'base', 1 * SECOND, tolerance_ns=0)
    assert buffer.can_transform('odom', 'base', 4 * SECOND, tolerance_ns=0)
    with pytest.raises(ValueError, match='loop'):
        buffer.set_transform('base', 'odom', RigidTransform.identity(), static=True)


@pytest.mark.parametrize('axis', ['x', 'y', 'z'])
@pytest.mark.parametrize('angle', [np.pi, 0.999 * np.pi, -2.5, 1e-9])
def test_matrix_quaternion_round_trip_in_every_branch(axis, angle):
    rotation = rotation_about(axis, angle) @ rotation_about('x', 0.01)
    t = RigidTransform(rotation, [0.0, 0.0, 0.0])
    _, q = t.to_translation_quaternion()
    assert q[3] >= 0 and np.linalg.norm(q) == pytest.approx(1.0)
    np.testing.assert_allclose(RigidTransform.from_translation_quaternion([0, 0, 0], q).rotation, rotation,
                               atol=1e-12)


def test_store_tf_message_keeps_good_transforms_and_reports_bad_ones():
    from geometry_msgs.msg import TransformStamped
    from tf2_msgs.msg import TFMessage

    from depthmaster_ros.geometry import store_tf_message
    good, bad = TransformStamped(), TransformStamped()
    good.header.frame_id, good.child_frame_id = 'base_link', 'lidar'
    good.header.stamp.sec = 3
    good.transform.translation.z = 1.5
    good.transform.rotation.w = 1.0
    bad.header.frame_id, bad.child_frame_id = 'base_link', 'camera'
    bad.transform.rotation.w = 0.0  # all-zero quaternion: not a rotation
    buffer = TransformBuffer()
    stored, errors = store_tf_message(buffer, TFMessage(transforms=[bad, good]), static=True)
    assert stored == 1
    assert len(errors) == 1 and "'base_link' <- 'camera'" in errors[0]
    np.testing.assert_allclose(buffer.lookup('base_link', 'lidar').apply(np.zeros((1, 3))), [[0.0, 0.0, 1.5]])


@pytest.mark.parametrize('seed', range(20))
def test_a_rotation_is_accepted_exactly_when_allclose_and_the_determinant_say_so(seed):
    rng = np.random.default_rng(seed)
    rotation = rotation_about('z', rng.uniform(-3, 3)) @ rotation_about('x', rng.uniform(-3, 3))
    # perturbations around the tolerance (1e-6 off the diagonal, 1.1e-5 on it), and a reflection
    for size in (1e-8, 3e-7, 1e-6, 4e-6, 1e-5, 3e-5):
        perturbed = rotation + size * rng.standard_normal((3, 3))
        for candidate in (perturbed, -perturbed):
            expected = np.allclose(candidate @ candidate.T, np.eye(3), atol=1e-6) and np.linalg.det(candidate) >= 0
            try:
                RigidTransform(candidate, np.zeros(3))
                accepted = True
            except GeometryError:
                accepted = False
            assert accepted == expected, (size, candidate)


def test_the_identity_is_one_shared_transform_that_nothing_can_change():
    identity = RigidTransform.identity()
    assert identity is RigidTransform.identity()
    np.testing.assert_array_equal(identity.as_matrix(), np.eye(4))
    with pytest.raises(ValueError):
        identity.rotation[0, 0] = 2.0
    with pytest.raises(ValueError):
        identity.translation[0] = 1.0
