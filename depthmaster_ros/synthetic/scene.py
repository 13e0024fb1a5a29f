"""A small deterministic synthetic scene with exact ground truth, for tests, reports and the sample bag.

A room (textured floor, walls, optional ceiling) with a few boxes and a thin pole, seen by a pinhole
camera on a robot that drives back and forth, and by a spinning multi-beam LiDAR mounted above and
behind the camera. Everything is analytic (axis-aligned boxes), ray-cast with vectorised numpy, so
the camera's depth is exact and the LiDAR sees what its own position allows, including surfaces the
camera cannot see (the real cause of occlusion see-through after projection). What the rays can hit
is a `World`; the room is `ROOM`, and a scene may change its world with time (`street.py`'s car ahead).

Frames (REP 103/105): world (z up, floor z = 0) -> base (on the floor under the camera, x forward)
-> camera optical frame; the LiDAR frame has body axes (x forward, y left, z up).
"""
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import ArrayLike

from depthmaster_ros.alignment import camera_to_base_from_height_pitch_roll, to_space
from depthmaster_ros.geometry import CameraModel, RigidTransform, rotation_about

from .errors import SyntheticError

ROOM_LOW = np.array([-1.5, -3.0, 0.0])
ROOM_HIGH = np.array([9.5, 3.0, 2.8])
FLOOR, WALL, CEILING = 0, 1, 2
# (low corner, high corner, RGB base colour); the last one is the thin pole
OBSTACLES = (
    ((3.6, 0.8, 0.0), (4.4, 1.6, 0.6), (200, 90, 60)),
    ((4.5, -1.6, 0.0), (5.1, -0.6, 1.0), (60, 120, 200)),
    ((6.5, -0.3, 0.0), (7.5, 0.7, 0.5), (90, 170, 80)),
    ((3.77, -0.33, 0.0), (3.83, -0.27, 2.8), (230, 230, 230)),
)
SURFACE_COLOURS = {FLOOR: (150, 130, 110), WALL: (185, 180, 170), CEILING: (210, 210, 215)}
Obstacle = tuple[tuple[float, float, float], tuple[float, float, float], tuple[int, int, int]]


@dataclass(frozen=True)
class World:
    """What the rays can hit: an enclosure box and axis-aligned obstacles (low corner, high corner, RGB).

    A closed world is a room (floor, walls, ceiling when asked); an open one keeps only the enclosure's
    floor, so a ray that would leave through a wall or the top sees sky (MISS), as outdoors.
    """
    low: np.ndarray
    high: np.ndarray
    obstacles: tuple[Obstacle, ...]
    colours: dict[int, tuple[int, int, int]]      # FLOOR, WALL, CEILING
    open: bool = False

    def palette(self) -> np.ndarray:
        """RGB in [0, 1] by surface id: FLOOR, WALL, CEILING, then one per obstacle."""
        colours = [self.colours.get(k, (0, 0, 0)) for k in (FLOOR, WALL, CEILING)]
        colours += [colour for _, _, colour in self.obstacles]
        return np.asarray(colours, np.float32) / np.float32(255.0)

    def seen_from(self, origin: np.ndarray, reach: float = np.inf, forward: np.ndarray | None = None) -> 'World':
        """The world without the obstacles no ray from `origin` can hit: none nearer than `reach`, or (given
        `forward`) none in front of the plane through origin normal to it. Culled obstacles can never be the
        nearest hit, so casting in this world gives the same distances as in the whole one."""
        kept = []
        for obstacle in self.obstacles:
            low, high = np.asarray(obstacle[0]), np.asarray(obstacle[1])
            if np.linalg.norm(np.clip(origin, low, high) - origin) > reach:
                continue
            if forward is not None and np.where(forward > 0, high - origin, low - origin) @ forward <= 0:
                continue
            kept.append(obstacle)
        return replace(self, obstacles=tuple(kept))


ROOM = World(ROOM_LOW, ROOM_HIGH, OBSTACLES, SURFACE_COLOURS)
LIGHT_DIRECTION = (np.array([0.3, 0.45, 0.84]) / np.linalg.norm([0.3, 0.45, 0.84])).astype(np.float32)
MISS = np.inf


@dataclass
class SceneFrame:
    rgb: np.ndarray                  # HxWx3 uint8
    depth: np.ndarray                # HxW float32 metres (z in the camera optical frame), NaN where no hit
    camera: CameraModel
    lidar_points: np.ndarray         # Nx3 float32 in the LiDAR frame (x forward, y left, z up)
    lidar_to_camera: RigidTransform  # LiDAR points -> camera optical frame
    camera_to_base: RigidTransform   # camera optical frame -> base (z up, floor z = 0)
    lidar_to_base: RigidTransform
    world_from_base: RigidTransform  # robot pose (odometry)
    stamp_ns: int

    @property
    def stamp_s(self) -> float:
        return self.stamp_ns * 1e-9

    def lidar_points_in_camera(self) -> np.ndarray:
        return self.lidar_to_camera.apply(self.lidar_points).astype(np.float32)


def _inverse_components(directions):
    """1 / d per axis as three contiguous arrays (zero components become huge, keeping their sign)."""
    tiny = 1e-12
    columns = []
    for axis in range(3):
        d = directions[:, axis]
        d = np.where(np.abs(d) < tiny, np.where(d < 0, -tiny, tiny), d)
        columns.append(np.reciprocal(d))
    return columns


def _cast_room(origin, inverse, ceiling, world):
    """Exit distance from inside the enclosure, the axis of the face it leaves through, and the surface."""
    t = np.full(len(inverse[0]), np.inf, inverse[0].dtype)
    axis = np.zeros(len(inverse[0]), np.int64)
    for k in range(3):
        far = np.where(inverse[k] > 0, (world.high[k] - origin[k]) * inverse[k],
                       (world.low[k] - origin[k]) * inverse[k])
        closer = far < t
        t = np.where(closer, far, t)
        axis[closer] = k
    upward = inverse[2] > 0
    surface = np.where(axis == 2, np.where(upward, CEILING, FLOOR), WALL)
    if world.open:
        t = np.where(surface == FLOOR, t, MISS)
    elif not ceiling:
        t = np.where((axis == 2) & upward, MISS, t)
    return t, axis, surface


def _cast_box(origin, inverse, low, high):
    """Entry distance into an axis-aligned box (MISS where the ray does not hit it) and the entry axis."""
    t_near = np.full(len(inverse[0]), -np.inf, inverse[0].dtype)
    t_far = np.full(len(inverse[0]), np.inf, inverse[0].dtype)
    axis = np.zeros(len(inverse[0]), np.int64)
    for k in range(3):
        t1 = (low[k] - origin[k]) * inverse[k]
        t2 = (high[k] - origin[k]) * inverse[k]
        near = np.minimum(t1, t2)
        later = near > t_near
        t_near = np.where(later, near, t_near)
        axis[later] = k
        t_far = np.minimum(t_far, np.maximum(t1, t2))
    hit = (t_far >= t_near) & (t_near > 1e-9)
    return np.where(hit, t_near, MISS), axis


def _view_coordinates(directions, ahead):
    """(u, v) of each ray on the image plane one unit along `ahead`; None unless every ray points ahead."""
    ahead = np.asarray(ahead, np.float64) / np.linalg.norm(ahead)
    side = np.cross(ahead, [0.0, 0.0, 1.0] if abs(ahead[2]) < 0.9 else [1.0, 0.0, 0.0])
    basis = np.stack([side / np.linalg.norm(side), np.cross(ahead, side) / np.linalg.norm(side), ahead], axis=1)
    local = directions @ basis.astype(directions.dtype)
    if not local[:, 2].min() > 0:
        return None
    return local[:, 0] / local[:, 2], local[:, 1] / local[:, 2], basis


def _candidates(origin, low, high, view):
    """The rays that may hit a box: inside the bounds of its corners' (u, v) when every corner is ahead, else all.

    A hit point is a convex combination of the corners, and (u, v) of such a point (corners ahead) lies in
    the corners' (u, v) range; the margin only covers rounding.
    """
    if view is None:
        return None
    u, v, basis = view
    corners = np.array(np.meshgrid(*zip(low, high), indexing='ij')).reshape(3, -1).T - origin
    local = corners @ basis
    if not local[:, 2].min() > 1e-6:
        return None
    cu, cv = local[:, 0] / local[:, 2], local[:, 1] / local[:, 2]
    margin = 1e-4 * (1.0 + np.abs(local[:, :2] / local[:, 2:]).max())
    return np.flatnonzero((u >= cu.min() - margin) & (u <= cu.max() + margin)
                          & (v >= cv.min() - margin) & (v <= cv.max() + margin))


def ray_cast(origin: ArrayLike, directions: ArrayLike, ceiling: bool = True, world: World = ROOM,
             ahead: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance along each direction (units of the direction's length) and what was hit.

    Returns (t, surface id, normal axis, normal sign). Surface ids: FLOOR, WALL, CEILING, then 3 + k
    for obstacle k. t is MISS where nothing is hit (only possible without a ceiling or in an open world).
    `ahead`, a direction every ray points along (a camera's optical axis), lets each obstacle be tested
    only against the rays that can reach it; the result is the same.
    """
    directions = np.asarray(directions)
    if directions.dtype != np.float32:          # float32 input stays float32 (the camera's 300k rays)
        directions = directions.astype(np.float64)
    origin = np.asarray(origin, dtype=directions.dtype)
    inverse = _inverse_components(directions)
    t, axis, surface = _cast_room(origin, inverse, ceiling, world)
    view = None if ahead is None else _view_coordinates(directions, ahead)
    for index, (low, high, _) in enumerate(world.obstacles):
        rays = _candidates(origin, low, high, view)
        if rays is None:
            t_box, axis_box = _cast_box(origin, inverse, low, high)
            closer = t_box < t
            t = np.where(closer, t_box, t)
            axis = np.where(closer, axis_box, axis)
            surface = np.where(closer, 3 + index, surface)
            continue
        t_box, axis_box = _cast_box(origin, [component[rays] for component in inverse], low, high)
        closer = t_box < t[rays]
        hit = rays[closer]
        t[hit], axis[hit], surface[hit] = t_box[closer], axis_box[closer], 3 + index
    sign = -np.sign(directions[np.arange(len(directions)), axis])
    return t, surface, axis, sign


def _texture(points, surface, axis, world):
    """Procedural albedo in [0, 1]: tiles on the floor, panels on walls, a grid on obstacles."""
    base = world.palette()[surface]
    # the two coordinates spanning the face
    a = np.where(axis == 0, points[:, 1], points[:, 0])
    b = np.where(axis == 2, points[:, 1], points[:, 2])
    checker = (np.floor(a / 0.5) + np.floor(b / 0.5)) % 2
    grain = 0.5 + 0.25 * np.sin(23.0 * a + 3.0 * np.sin(7.0 * b)) + 0.25 * np.sin(17.0 * b + 2.0 * a)
    grid = ((np.abs((a / 0.2) % 1 - 0.5) > 0.45) | (np.abs((b / 0.2) % 1 - 0.5) > 0.45)).astype(np.float32)
    pattern = np.where(surface == FLOOR, 0.75 + 0.2 * checker + 0.1 * grain,
                       np.where(surface >= 3, 0.85 + 0.1 * grain - 0.35 * grid, 0.8 + 0.2 * grain))
    return base * pattern[:, None]


def _shade(albedo, axis, sign):
    normal = np.zeros((len(axis), 3), np.float32)
    normal[np.arange(len(axis)), axis] = sign
    lambert = np.clip(normal @ LIGHT_DIRECTION, 0.0, None)
    return albedo * (0.45 + 0.55 * lambert.astype(np.float32))[:, None]


def smooth_field(height: int, width: int, rng: np.random.Generator, num_waves: int = 3) -> np.ndarray:
    """A smooth random field in [-1, 1] with a few low-frequency waves across the image."""
    v, u = np.mgrid[0:height, 0:width]
    u, v = u / width, v / height
    field = np.zeros((height, width))
    for _ in range(num_waves):
        fu, fv = rng.uniform(0.3, 1.5, 2)
        phase = rng.uniform(0, 2 * np.pi)
        field += np.cos(2 * np.pi * (fu * u + fv * v) + phase)
    return field / np.abs(field).max()


def fake_prediction(gt_depth: np.ndarray, space: str, rng: np.random.Generator, scale: float = 0.8, shift: float = 0.1,
                    distortion_amp: float = 0.03, noise: float = 0.01) -> np.ndarray:
    """What a good relative-depth model might output: GT in `space`, unknown scale and shift,
    a smooth low-frequency multiplicative distortion of +-distortion_amp, and pixel noise whose
    standard deviation is `noise` times the 5-95 % spread of the values. NaN where GT is invalid.
    """
    values = to_space(gt_depth, space)
    height, width = values.shape
    distorted = values * (1.0 + distortion_amp * smooth_field(height, width, rng))
    finite = values[np.isfinite(values)]
    spread = np.percentile(finite, 95) - np.percentile(finite, 5) if finite.size else 0.0
    noisy = distorted + noise * spread * rng.standard_normal(values.shape)
    return (scale * noisy + shift).astype(np.float32)


class SyntheticScene:
    """The room, the robot's path and its sensors; `render(t_s)` is a pure function of time and seed.

    fx defaults to 500 px at 640 wide (62 degree horizontal field of view); `distortion` adds mild
    plumb_bob distortion. The LiDAR has 16 or 32 beams from -25 to +15 degrees elevation;
    lidar_range_noise is the relative standard deviation of each range, and a lidar_outlier_fraction
    of returns get a random range between 0.3 and 20 m (gross outliers).
    """

    def __init__(self, width: int = 640, height: int = 480, fx: float | None = None, distortion: bool = False,
                 ceiling: bool = True, camera_height_m: float = 1.0, camera_pitch_rad: float = 0.2,
                 lidar_beams: int = 32, lidar_azimuth_step_deg: float = 0.4, lidar_range_noise: float = 0.0,
                 lidar_outlier_fraction: float = 0.0, lidar_max_range_m: float = 60.0, path_period_s: float = 20.0,
                 path_amplitude_m: float = 1.5, start_stamp_ns: int = 0, seed: int = 0):
        if lidar_beams not in (16, 32):
            raise SyntheticError(f'lidar_beams: 16 or 32, got {lidar_beams}')
        if not 0.0 <= lidar_outlier_fraction < 1.0:
            raise SyntheticError(f'lidar_outlier_fraction: must be in [0, 1), got {lidar_outlier_fraction}')
        fx = 500.0 * width / 640.0 if fx is None else float(fx)
        coefficients = (-0.05, 0.01, 0.0005, -0.0005, 0.0) if distortion else ()
        self.camera = CameraModel.pinhole(width, height, fx, D=coefficients,
                                          distortion_model='plumb_bob' if distortion else '')
        rays = self.camera.pixel_rays().reshape(-1, 2)
        # optical-frame ray per pixel with z = 1, so the distance along it is the depth
        self.camera_directions = np.concatenate([rays, np.ones((len(rays), 1))], axis=1).astype(np.float32)
        self.ceiling = ceiling
        self.camera_to_base = camera_to_base_from_height_pitch_roll(camera_height_m, camera_pitch_rad, 0.0)
        lidar_rotation = rotation_about('z', 0.03) @ rotation_about('y', 0.02) @ rotation_about('x', -0.01)
        lidar_position = self.camera_to_base.translation + np.array([-0.2, 0.03, 0.3])
        self.lidar_to_base = RigidTransform(lidar_rotation, lidar_position)
        self.lidar_to_camera = self.camera_to_base.inverse() @ self.lidar_to_base
        elevations = np.deg2rad(np.linspace(-25.0, 15.0, lidar_beams))
        azimuths = np.deg2rad(np.arange(-180.0, 180.0, lidar_azimuth_step_deg))
        el, az = np.meshgrid(elevations, azimuths, indexing='ij')
        self.lidar_directions = np.stack(
            [np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1).reshape(-1, 3)
        self.lidar_range_noise = float(lidar_range_noise)
        self.lidar_outlier_fraction = float(lidar_outlier_fraction)
        self.lidar_max_range_m = float(lidar_max_range_m)
        self.path_period_s = float(path_period_s)
        self.path_amplitude_m = float(path_amplitude_m)
        self.start_stamp_ns = int(start_stamp_ns)
        self.seed = int(seed)

    def pose_at(self, t_s: float) -> RigidTransform:
        """Robot base in the world: back and forth along x, gently weaving and turning."""
        phase = 2.0 * np.pi * t_s / self.path_period_s
        x = self.path_amplitude_m * (1.0 - np.cos(phase))
        y = 0.25 * np.sin(2.0 * phase)
        yaw = 0.08 * np.sin(phase)
        return RigidTransform(rotation_about('z', yaw), np.array([x, y, 0.0]))

    def world_at(self, t_s: float) -> World:
        """What the rays can hit at t_s seconds (the room stands still)."""
        return ROOM

    def _render_camera(self, world_from_camera, world):
        camera = self.camera
        world_directions = self.camera_directions @ world_from_camera.rotation.T.astype(np.float32)
        origin = world_from_camera.translation.astype(np.float32)
        seen = world.seen_from(world_from_camera.translation, forward=world_from_camera.rotation[:, 2])
        t, surface, axis, sign = ray_cast(origin, world_directions, self.ceiling, seen,
                                          ahead=world_from_camera.rotation[:, 2])
        hit = np.isfinite(t)
        points = origin + world_directions * np.where(hit, t, np.float32(0.0))[:, None]
        colour = _shade(_texture(points, surface, axis, seen), axis, sign)
        colour[~hit] = (0.55, 0.7, 0.9)     # sky through the open top
        rgb = np.clip(colour * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)
        rgb = rgb.reshape(camera.height, camera.width, 3)
        depth = np.where(hit, t, np.nan).astype(np.float32).reshape(camera.height, camera.width)
        return rgb, depth

    def _scan_lidar(self, world_from_lidar, rng, world):
        directions = self.lidar_directions
        origin = world_from_lidar.translation
        t, *_ = ray_cast(origin, directions @ world_from_lidar.rotation.T, self.ceiling,
                         world.seen_from(origin, reach=self.lidar_max_range_m))
        keep = np.isfinite(t) & (t < self.lidar_max_range_m)
        ranges, directions = t[keep], directions[keep]
        if self.lidar_range_noise > 0:
            ranges = ranges * (1.0 + self.lidar_range_noise * rng.standard_normal(len(ranges)))
        if self.lidar_outlier_fraction > 0:
            outliers = rng.random(len(ranges)) < self.lidar_outlier_fraction
            ranges = np.where(outliers, rng.uniform(0.3, 20.0, len(ranges)), ranges)
        return (directions * ranges[:, None]).astype(np.float32)

    def render(self, t_s: float) -> SceneFrame:
        """The frame at t_s seconds after start (deterministic for a given seed and time)."""
        stamp_ns = self.start_stamp_ns + int(round(t_s * 1e9))
        world_from_base, world = self.pose_at(t_s), self.world_at(t_s)
        rgb, depth = self._render_camera(world_from_base @ self.camera_to_base, world)
        rng = np.random.default_rng([self.seed, stamp_ns])
        lidar_points = self._scan_lidar(world_from_base @ self.lidar_to_base, rng, world)
        return SceneFrame(rgb=rgb, depth=depth, camera=self.camera, lidar_points=lidar_points,
                          lidar_to_camera=self.lidar_to_camera, camera_to_base=self.camera_to_base,
                          lidar_to_base=self.lidar_to_base, world_from_base=world_from_base,
                          stamp_ns=stamp_ns)

    def render_view(self, t_s: float, camera_to_base: RigidTransform) -> tuple[np.ndarray, np.ndarray]:
        """rgb and exact depth at t_s of another camera on the robot (same intrinsics), e.g. a ring's second one."""
        return self._render_camera(self.pose_at(t_s) @ camera_to_base, self.world_at(t_s))

    def frames(self, rate_hz: float, duration_s: float) -> Iterator[SceneFrame]:
        """Frames at rate_hz for duration_s seconds (the sample bag's stream)."""
        if not rate_hz > 0 or not duration_s >= 0:
            raise SyntheticError(f'rate_hz/duration_s: need rate > 0 and duration >= 0, got {rate_hz}, {duration_s}')
        count = int(np.floor(duration_s * rate_hz + 1e-9))
        for index in range(count):
            yield self.render(index / rate_hz)
