"""Rigid transforms and a small time-indexed frame tree (the part of tf2 the pipeline needs).

A transform named "target <- source" maps point coordinates expressed in the source frame into the
target frame: p_target = R @ p_source + t. geometry_msgs/TransformStamped with header.frame_id =
parent and child_frame_id = child is the transform parent <- child.
"""
import bisect
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.geometry.array_checks import POINTS, float_array

from .errors import GeometryError, TransformLookupError

DEFAULT_TOLERANCE_NS = 100_000_000   # how far outside the stored samples a lookup may reach
_EYE = np.eye(3)
# |R R^T - I| elementwise within np.allclose's default rule (atol 1e-6, rtol 1e-5 of I), without its overhead:
# every transform of a TF lookup is checked, frame after frame
_ORTHONORMAL_TOLERANCE = 1e-6 + 1e-5 * _EYE


def _array(values: ArrayLike, shape: tuple[int, ...], field: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise GeometryError(f'{field}: not numeric ({error})') from None
    if array.shape != shape:
        raise GeometryError(f'{field}: expected shape {shape}, got {array.shape}')
    if not np.all(np.isfinite(array)):
        raise GeometryError(f'{field}: values must be finite')
    return array


def quaternion_to_matrix(q_xyzw: ArrayLike) -> np.ndarray:
    """Rotation matrix of a quaternion (x, y, z, w); normalises it, rejects zero or NaN."""
    q = _array(q_xyzw, (4,), 'quaternion')
    norm = np.linalg.norm(q)
    if norm < 1e-12:
        raise GeometryError('quaternion: zero-length quaternion is not a rotation')
    x, y, z, w = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rotation: np.ndarray) -> np.ndarray:
    """Quaternion (x, y, z, w) with w >= 0 of a rotation matrix (largest-diagonal method)."""
    m = rotation
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = [(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s]
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s]
    quaternion = np.asarray(q)
    quaternion /= np.linalg.norm(quaternion)
    return quaternion if quaternion[3] >= 0 else -quaternion


def rotation_about(axis: str, angle_rad: float) -> np.ndarray:
    """Rotation matrix about 'x', 'y' or 'z' by angle (right-hand rule)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    if axis == 'x':
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 'y':
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    if axis == 'z':
        return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    raise GeometryError(f'axis: expected x, y or z, got {axis!r}')


def _slerp(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:
        q: np.ndarray = q0 + fraction * (q1 - q0)
        nearly_linear: np.ndarray = q / np.linalg.norm(q)
        return nearly_linear
    theta = np.arccos(dot)
    result: np.ndarray = (np.sin((1 - fraction) * theta) * q0 + np.sin(fraction * theta) * q1) / np.sin(theta)
    return result


@dataclass(frozen=True, eq=False)
class RigidTransform:
    """p_target = rotation @ p_source + translation."""

    rotation: np.ndarray
    translation: np.ndarray

    def __post_init__(self) -> None:
        rotation = _array(self.rotation, (3, 3), 'rotation')
        translation = _array(self.translation, (3,), 'translation')
        deviation = rotation @ rotation.T
        deviation -= _EYE
        np.abs(deviation, out=deviation)
        if not (deviation <= _ORTHONORMAL_TOLERANCE).all() or np.linalg.det(rotation) < 0:
            raise GeometryError('rotation: not a proper rotation matrix')
        rotation.setflags(write=False)
        translation.setflags(write=False)
        object.__setattr__(self, 'rotation', rotation)
        object.__setattr__(self, 'translation', translation)

    @classmethod
    def identity(cls) -> 'RigidTransform':
        """The identity: one shared instance (a transform never changes; every lookup starts from it)."""
        return _IDENTITY

    @classmethod
    def from_translation_quaternion(cls, t_xyz: ArrayLike, q_xyzw: ArrayLike) -> 'RigidTransform':
        return cls(quaternion_to_matrix(q_xyzw), _array(t_xyz, (3,), 'translation'))

    @classmethod
    def from_matrix(cls, matrix: ArrayLike) -> 'RigidTransform':
        matrix = _array(matrix, (4, 4), 'matrix')
        if not np.allclose(matrix[3], [0, 0, 0, 1]):
            raise GeometryError('matrix: last row must be [0, 0, 0, 1]')
        return cls(matrix[:3, :3], matrix[:3, 3])

    def as_matrix(self) -> np.ndarray:
        matrix = np.eye(4)
        matrix[:3, :3] = self.rotation
        matrix[:3, 3] = self.translation
        return matrix

    def inverse(self) -> 'RigidTransform':
        return RigidTransform(self.rotation.T, -self.rotation.T @ self.translation)

    def __matmul__(self, other: object) -> 'RigidTransform':
        if not isinstance(other, RigidTransform):
            return NotImplemented
        return RigidTransform(self.rotation @ other.rotation,
                              self.rotation @ other.translation + self.translation)

    def apply(self, points: ArrayLike) -> np.ndarray:
        """Transform Nx3 points (float64 result; NaN rows stay NaN)."""
        array = float_array(points, 'points', POINTS, np.float64)
        result: np.ndarray = array @ self.rotation.T + self.translation
        return result

    def to_translation_quaternion(self) -> tuple[np.ndarray, np.ndarray]:
        return self.translation.copy(), matrix_to_quaternion(self.rotation)

    def interpolate(self, other: 'RigidTransform', fraction: float) -> 'RigidTransform':
        """Linear in translation, slerp in rotation; fraction 0 -> self, 1 -> other."""
        q0 = matrix_to_quaternion(self.rotation)
        q1 = matrix_to_quaternion(other.rotation)
        translation = (1 - fraction) * self.translation + fraction * other.translation
        return RigidTransform(quaternion_to_matrix(_slerp(q0, q1, fraction)), translation)

    def __repr__(self) -> str:
        t, q = self.to_translation_quaternion()
        return f'RigidTransform(t={np.round(t, 6).tolist()}, q_xyzw={np.round(q, 6).tolist()})'


_IDENTITY = RigidTransform(np.eye(3), np.zeros(3))


def optical_from_body() -> RigidTransform:
    """Maps a REP 103 body frame (x forward, y left, z up) into its optical frame (z fwd, x right, y down)."""
    return RigidTransform(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]), np.zeros(3))


class _Edge:
    """The transform parent <- child: one static value or a time-sorted list of samples."""

    def __init__(self, parent: str):
        self.parent = parent
        self.static: RigidTransform | None = None
        self.stamps: list[int] = []
        self.samples: list[RigidTransform] = []

    def describe(self) -> str:
        if self.static is not None:
            return 'static'
        return f'{len(self.stamps)} samples in [{self.stamps[0]}, {self.stamps[-1]}] ns'


class TransformLookup(Protocol):
    """What alignment needs of a frame tree: the buffer here, or the node's locked copy of it."""

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int | None = None) -> 'RigidTransform':
        ...


class TransformSink(Protocol):
    """What storing a TFMessage needs of a frame tree: the buffer here, or the node's locked copy of it."""

    def set_transform(self, parent_frame: str, child_frame: str, transform: 'RigidTransform', stamp_ns: int = 0,
                      static: bool = False) -> None:
        ...


class TransformBuffer:
    """Frame tree with a time window of dynamic transforms; each frame has one parent.

    Setting a transform with a new parent for a known child re-parents it and drops its history.
    Dynamic samples older than cache_s before the newest sample of the same edge are discarded.
    Lookups interpolate between bracketing samples; outside the stored span they use the nearest
    sample if it is within tolerance_ns, else fail (no extrapolation).
    """

    def __init__(self, cache_s: float = 10.0):
        if not cache_s > 0:
            raise GeometryError(f'cache_s: must be positive, got {cache_s}')
        self.cache_ns = int(cache_s * 1e9)
        self._edges: dict[str, _Edge] = {}   # child frame -> _Edge

    def set_transform(self, parent_frame: str, child_frame: str, transform: RigidTransform, stamp_ns: int = 0,
                      static: bool = False) -> None:
        if not parent_frame or not child_frame:
            raise GeometryError(f'frame_id: empty frame name (parent={parent_frame!r}, child={child_frame!r})')
        if parent_frame == child_frame:
            raise GeometryError(f'child_frame_id: {child_frame!r} cannot be its own parent')
        if not isinstance(transform, RigidTransform):
            raise GeometryError('transform: expected a RigidTransform')
        if self._creates_cycle(parent_frame, child_frame):
            raise GeometryError(f'child_frame_id: {parent_frame!r} <- {child_frame!r} would close a loop')
        edge = self._edges.get(child_frame)
        if edge is None or edge.parent != parent_frame:
            edge = self._edges[child_frame] = _Edge(parent_frame)
        if static:
            edge.static, edge.stamps, edge.samples = transform, [], []
            return
        edge.static = None
        stamp_ns = int(stamp_ns)
        index = bisect.bisect_left(edge.stamps, stamp_ns)
        if index < len(edge.stamps) and edge.stamps[index] == stamp_ns:
            edge.samples[index] = transform
        else:
            edge.stamps.insert(index, stamp_ns)
            edge.samples.insert(index, transform)
        oldest = edge.stamps[-1] - self.cache_ns
        drop = bisect.bisect_left(edge.stamps, oldest)
        if drop:
            del edge.stamps[:drop], edge.samples[:drop]

    def snapshot(self) -> 'TransformBuffer':
        """A copy that later transforms do not change (a frame finished while reading goes on sees what it saw)."""
        copy = TransformBuffer(cache_s=1.0)
        copy.cache_ns = self.cache_ns
        for child, edge in self._edges.items():
            kept = copy._edges[child] = _Edge(edge.parent)
            kept.static, kept.stamps, kept.samples = edge.static, list(edge.stamps), list(edge.samples)
        return copy

    def frames(self) -> list[str]:
        return sorted(set(self._edges) | {edge.parent for edge in self._edges.values()})

    def _creates_cycle(self, parent: str, child: str) -> bool:
        frame = parent
        while frame in self._edges:
            if frame == child:
                return True
            frame = self._edges[frame].parent
        return frame == child

    def _path_to_root(self, frame: str) -> list[str]:
        path = [frame]
        while path[-1] in self._edges:
            path.append(self._edges[path[-1]].parent)
        return path

    def _edge_transform(self, child: str, stamp_ns: int | None, tolerance_ns: int, target: str,
                        source: str) -> RigidTransform:
        edge = self._edges[child]
        if edge.static is not None:
            return edge.static
        if stamp_ns is None:
            return edge.samples[-1]
        stamps = edge.stamps
        index = bisect.bisect_left(stamps, stamp_ns)
        if index < len(stamps) and stamps[index] == stamp_ns:
            return edge.samples[index]
        if 0 < index < len(stamps):
            fraction = (stamp_ns - stamps[index - 1]) / (stamps[index] - stamps[index - 1])
            return edge.samples[index - 1].interpolate(edge.samples[index], fraction)
        nearest = 0 if index == 0 else len(stamps) - 1
        if abs(stamps[nearest] - stamp_ns) <= tolerance_ns:
            return edge.samples[nearest]
        raise TransformLookupError(
            f'cannot transform {source!r} -> {target!r} at stamp {stamp_ns} ns: edge '
            f'{edge.parent!r} <- {child!r} has {edge.describe()} (tolerance {tolerance_ns} ns)')

    def lookup(self, target_frame: str, source_frame: str, stamp_ns: int | None = None,
               tolerance_ns: int = DEFAULT_TOLERANCE_NS) -> RigidTransform:
        """The transform target <- source at stamp_ns (None: latest of every edge)."""
        if target_frame == source_frame:
            return RigidTransform.identity()
        source_path = self._path_to_root(source_frame)
        target_path = self._path_to_root(target_frame)
        target_set = set(target_path)
        common = next((frame for frame in source_path if frame in target_set), None)
        if common is None:
            known = ', '.join(self.frames()) or 'none'
            raise TransformLookupError(f'cannot transform {source_frame!r} -> {target_frame!r}: the frames are '
                                       f'not connected (known frames: {known})')
        ancestor_from_source = RigidTransform.identity()
        for child in source_path[:source_path.index(common)]:
            edge = self._edge_transform(child, stamp_ns, tolerance_ns, target_frame, source_frame)
            ancestor_from_source = edge @ ancestor_from_source
        ancestor_from_target = RigidTransform.identity()
        for child in target_path[:target_path.index(common)]:
            edge = self._edge_transform(child, stamp_ns, tolerance_ns, target_frame, source_frame)
            ancestor_from_target = edge @ ancestor_from_target
        return ancestor_from_target.inverse() @ ancestor_from_source

    def can_transform(self, target_frame: str, source_frame: str, stamp_ns: int | None = None,
                      tolerance_ns: int = DEFAULT_TOLERANCE_NS) -> bool:
        try:
            self.lookup(target_frame, source_frame, stamp_ns, tolerance_ns)
        except LookupError:
            return False
        return True


def store_tf_message(buffer: TransformSink, tf_message: Any, static: bool) -> tuple[int, list[str]]:
    """Add every transform of a tf2_msgs/TFMessage (rclpy or rosbags) to buffer.

    One bad transform does not stop the others; returns (number stored, list of error strings).
    """
    stored, errors = 0, []
    for stamped in tf_message.transforms:
        t, q, stamp = stamped.transform.translation, stamped.transform.rotation, stamped.header.stamp
        try:
            transform = RigidTransform.from_translation_quaternion((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))
            buffer.set_transform(stamped.header.frame_id, stamped.child_frame_id, transform,
                                 int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec), static=static)
            stored += 1
        except ValueError as error:
            errors.append(f'{stamped.header.frame_id!r} <- {stamped.child_frame_id!r}: {error}')
    return stored, errors
