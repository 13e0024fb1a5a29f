"""Ray-cast scenes for the alignment benchmark, independent of the package's own synthetic room.

Two worlds built from axis-aligned boxes on a floor (z = 0, z up, x forward at the start pose):
a street (facades, parked cars, an optional van ahead, a building closing the street) seen by a
1242x375 camera with a 64-beam LiDAR mounted 0.27 m behind and 0.3 m above it, and a furnished room
seen by a 640x480 camera with a 16-beam LiDAR. The cluttered room is the furnished room as a
camera-only robot meets it: tables and chairs on legs, a sofa, cabinets, boxes and a lamp covering a
drawn share (30-50 %) of the floor, the camera 1.3 m up, pitched 5-20 degrees down, rolled up to 3.
Every pixel and every LiDAR beam is cast exactly, so the LiDAR sees what its own position allows (the
true cause of see-through after projection).

Predictions are affine in sqrt-disparity, on a distorted depth: either a smooth low-frequency
multiplicative error or per-object offsets with sharp edges, plus per-pixel noise.
"""
from dataclasses import dataclass

import numpy as np

from depthmaster_ros.geometry import CameraModel

FLOOR_ID = 0
SKY_ID = -1


@dataclass
class Box:
    low: tuple
    high: tuple
    inside: bool = False      # the camera is inside it (a room): rays hit its far faces


@dataclass
class View:
    camera: CameraModel
    position: np.ndarray       # camera centre in the world
    pitch_rad: float           # down positive
    height_m: float
    roll_rad: float            # right side down positive (REP 103 about the forward axis)
    depth: np.ndarray          # HxW float32 metres (optical z), NaN where nothing is hit
    object_id: np.ndarray      # HxW int: FLOOR_ID, 1 + box index, SKY_ID
    lidar_points: np.ndarray   # Nx3 in the camera optical frame (true, before noise)
    lidar_ids: np.ndarray
    floor_cover: float = float('nan')   # share of the floor area within 10 m that furniture stands on


def world_from_optical(pitch_rad, roll_rad=0.0, yaw_rad=0.0):
    """Rotation optical (x right, y down, z forward) -> world: the body (x forward, y left, z up) rolled
    about its forward axis (right side down positive), pitched down, then turned by yaw (left positive)."""
    def about(axis, angle):
        c, s = np.cos(angle), np.sin(angle)
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        rotation = np.eye(3)
        rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
        return rotation
    body = about(2, yaw_rad) @ about(1, pitch_rad) @ about(0, roll_rad)
    forward, left, up = body[:, 0], body[:, 1], body[:, 2]
    return np.stack([-left, -up, forward], axis=1)


def _angles(vectors):
    return (np.arctan2(vectors[:, 1], vectors[:, 0]),
            np.arctan2(vectors[:, 2], np.hypot(vectors[:, 0], vectors[:, 1])))


def _candidates(origin, box, azimuth, elevation):
    """Rays that may hit a box: those inside the angular bounds of its corners (all when it is behind)."""
    corners = np.array(np.meshgrid(*zip(box.low, box.high), indexing='ij')).reshape(3, -1).T - origin
    if box.inside or corners[:, 0].min() <= 0.1:
        return np.arange(len(azimuth))
    corner_az, corner_el = _angles(corners)
    return np.flatnonzero((azimuth >= corner_az.min()) & (azimuth <= corner_az.max()) &
                          (elevation >= corner_el.min()) & (elevation <= corner_el.max()))


def cast(origin, directions, boxes):
    """(t, id) of the first hit along origin + t * direction; t = inf and id SKY_ID on a miss."""
    t = np.full(len(directions), np.inf)
    ids = np.full(len(directions), SKY_ID, np.int64)
    with np.errstate(divide='ignore', invalid='ignore'):
        inverse = 1.0 / np.where(np.abs(directions) < 1e-12, 1e-12, directions)
        floor_t = np.where(directions[:, 2] < 0, -origin[2] * inverse[:, 2], np.inf)
    hit = floor_t < t
    t[hit], ids[hit] = floor_t[hit], FLOOR_ID
    azimuth, elevation = _angles(directions)
    for index, box in enumerate(boxes):
        rays = _candidates(origin, box, azimuth, elevation)
        t1 = (np.asarray(box.low) - origin) * inverse[rays]
        t2 = (np.asarray(box.high) - origin) * inverse[rays]
        near = np.minimum(t1, t2).max(axis=1)
        far = np.maximum(t1, t2).min(axis=1)
        if box.inside:
            t_box = np.where(far > 0, far, np.inf)
        else:
            t_box = np.where((far >= near) & (near > 1e-6), near, np.inf)
        closer = t_box < t[rays]
        t[rays[closer]], ids[rays[closer]] = t_box[closer], 1 + index
    return t, ids


def render(camera, position, pitch_rad, boxes, lidar_offset, beams_deg, azimuth_step_deg, azimuth_half_deg,
           max_range=120.0, roll_rad=0.0, yaw_rad=0.0):
    """Camera depth and ids, and the LiDAR scan in the camera optical frame."""
    rotation = world_from_optical(pitch_rad, roll_rad, yaw_rad)
    xy = camera.pixel_rays().reshape(-1, 2).astype(np.float64)
    rays = np.column_stack([xy, np.ones(len(xy))])                         # (x, y, 1): t is the depth
    t, ids = cast(position, rays @ rotation.T, boxes)
    depth = np.where(np.isfinite(t), t, np.nan).reshape(camera.height, camera.width).astype(np.float32)
    # LiDAR: level, body axes of the robot, offset (forward, left, up) from the camera centre
    lidar_origin = position + np.asarray(lidar_offset, float)
    elevation = np.radians(np.asarray(beams_deg))[:, None]
    azimuth = np.radians(np.arange(-azimuth_half_deg, azimuth_half_deg, azimuth_step_deg))[None, :]
    directions = np.stack(np.broadcast_arrays(np.cos(elevation) * np.cos(azimuth),
                                              np.cos(elevation) * np.sin(azimuth),
                                              np.sin(elevation) + 0 * azimuth), axis=-1).reshape(-1, 3)
    t_lidar, lidar_ids = cast(lidar_origin, directions, boxes)
    keep = t_lidar < max_range
    world = lidar_origin + directions[keep] * t_lidar[keep, None]
    points = (world - position) @ rotation               # world -> optical: R^T (p - c)
    return View(camera, np.asarray(position, float), pitch_rad, float(position[2]), roll_rad, depth,
                ids.reshape(camera.height, camera.width), points, lidar_ids[keep])


def street_drive(rng, frames, step_m=1.0, roll_deg=2.0):
    """One street seen from a camera driving forward step_m per frame (no LiDAR): a fixed mount, a new view."""
    camera = CameraModel.pinhole(1242, 375, 721.5, cx=609.6, cy=172.9)
    boxes = street_boxes(rng)
    lane, pitch = rng.uniform(-0.5, 0.5), np.radians(rng.uniform(-0.5, 1.5))
    roll = np.radians(rng.uniform(-roll_deg, roll_deg))
    return [render(camera, np.array([step_m * index, lane, 1.65]), pitch, boxes, (0.0, 0.0, 0.0), np.zeros(0), 0.17,
                   50.0, roll_rad=roll) for index in range(frames)]


def street_boxes(rng, van=False):
    boxes = []
    for side in (1, -1):
        x = -5.0
        while x < 95:
            length = rng.uniform(8, 20)
            setback = rng.uniform(7.0, 11.0)
            y0, y1 = sorted((side * setback, side * (setback + 10)))
            boxes.append(Box((x, y0, 0.0), (x + length, y1, rng.uniform(6, 18))))
            x += length + rng.uniform(0.0, 4.0)
        for _ in range(4):                                # parked cars
            cx = rng.uniform(6, 60)
            y0, y1 = sorted((side * 3.6, side * 5.4))
            boxes.append(Box((cx, y0, 0.0), (cx + 4.3, y1, 1.5)))
        for _ in range(3):                                # poles
            px = rng.uniform(5, 50)
            boxes.append(Box((px, side * 6.0, 0.0), (px + 0.25, side * 6.0 + 0.25 * side, 4.0)))
    boxes = [Box(tuple(np.minimum(b.low, b.high)), tuple(np.maximum(b.low, b.high))) for b in boxes]
    boxes.append(Box((95.0, -30.0, 0.0), (105.0, 30.0, 25.0)))   # the street ends at a building
    if van:
        start = rng.uniform(8, 12)
        boxes.append(Box((start, -1.4, 0.0), (start + 5.0, 0.9, 2.6)))
    else:
        start = rng.uniform(18, 35)
        boxes.append(Box((start, -2.2, 0.0), (start + 4.3, -0.4, 1.5)))   # a car ahead in the next lane
    return boxes


def street_view(rng, van=False, roll_deg=0.0):
    camera = CameraModel.pinhole(1242, 375, 721.5, cx=609.6, cy=172.9)
    boxes = street_boxes(rng, van)
    beams = np.linspace(-24.8, 2.0, 64)
    position = np.array([0.0, rng.uniform(-0.5, 0.5), 1.65])
    roll = np.radians(rng.uniform(-roll_deg, roll_deg)) if roll_deg else 0.0
    return render(camera, position, np.radians(rng.uniform(-0.5, 1.5)), boxes, (-0.27, 0.0, 0.3),
                  beams, 0.17, 50.0, roll_rad=roll)


def room_boxes(rng):
    boxes = [Box((-1.0, -2.6, 0.0), (rng.uniform(5.5, 7.0), 2.6, 2.7), inside=True)]
    furniture = [((1.2, 0.8, 0.75), 0.0), ((0.6, 1.8, 1.9), 0.0), ((0.9, 2.0, 0.85), 0.0), ((0.5, 0.5, 0.9), 0.0),
                 ((0.5, 0.5, 0.45), 0.0), ((0.4, 1.2, 0.5), 0.0)]
    for (sx, sy, sz), _ in furniture:
        x = rng.uniform(1.2, 4.8)
        y = rng.uniform(-2.5, 2.5 - sy)
        boxes.append(Box((x, y, 0.0), (x + sx, y + sy, sz)))
    return boxes


def room_view(rng):
    camera = CameraModel.pinhole(640, 480, 518.9, cx=325.6, cy=253.7)
    boxes = room_boxes(rng)
    beams = np.linspace(-15.0, 15.0, 16)
    position = np.array([0.0, rng.uniform(-0.4, 0.4), rng.uniform(1.0, 1.4)])
    return render(camera, position, np.radians(rng.uniform(8.0, 20.0)), boxes, (-0.05, 0.0, 0.12),
                  beams, 0.2, 60.0)


# Furniture as parts (dx, dy, z0, z1 relative to its footprint corner; None: the whole footprint), its
# footprint (length, width) drawn from a range. Tables and chairs stand on legs: floor shows between them.
LEG = 0.05


def _legs(length, width, top):
    return [(x, y, 0.0, top) for x in (0.02, length - 0.02 - LEG) for y in (0.02, width - 0.02 - LEG)]


def _table(length, width):
    return _legs(length, width, 0.72) + [(None, None, 0.72, 0.76)]


def _chair(length, width):
    return _legs(length, width, 0.45) + [(None, None, 0.45, 0.49), ((0.0, 0.06), None, 0.49, 0.95)]


def _solid(height):
    return lambda length, width: [(None, None, 0.0, height)]


FURNITURE = {                       # name: (length range, width range, parts)
    'table': ((1.2, 1.8), (0.7, 1.0), _table),
    'chair': ((0.42, 0.5), (0.42, 0.5), _chair),
    'sofa': ((1.8, 2.4), (0.85, 1.0), _solid(0.85)),
    'cabinet': ((0.8, 1.6), (0.4, 0.6), _solid(1.9)),
    'box': ((0.4, 0.8), (0.3, 0.6), _solid(0.5)),
    'lamp': ((0.3, 0.35), (0.3, 0.35), _solid(1.6)),
}
CLUTTER_ORDER = ('table', 'chair', 'chair', 'sofa', 'cabinet', 'box', 'lamp', 'chair', 'chair', 'box', 'cabinet',
                 'sofa', 'table', 'box', 'box', 'cabinet', 'chair', 'box')


def _furniture_boxes(name, corner, length, width, turned):
    """A piece's boxes at corner (x, y), turned by 90 degrees when `turned`."""
    boxes = []
    for part in FURNITURE[name][2](length, width):
        dx, dy, z0, z1 = part
        x0, x1 = (0.0, length) if dx is None else ((dx, dx + LEG) if isinstance(dx, float) else dx)
        y0, y1 = (0.0, width) if dy is None else ((dy, dy + LEG) if isinstance(dy, float) else dy)
        if turned:
            x0, x1, y0, y1 = y0, y1, x0, x1
        boxes.append(Box((corner[0] + x0, corner[1] + y0, z0), (corner[0] + x1, corner[1] + y1, z1)))
    return boxes


AGAINST_A_WALL = ('sofa', 'cabinet')
CAMERA_CLEARANCE = (-0.7, -0.7, 1.6, 0.7)     # the robot's own spot and the path just ahead stay free


def cluttered_room_boxes(rng, cover):
    """A room (x from -1 m, y symmetric) with furniture standing on `cover` of its floor; (boxes, cover).

    Sofas and cabinets stand against a wall, the rest anywhere clear of the robot's spot and the path ahead.
    """
    length, half_width = rng.uniform(5.5, 8.0), rng.uniform(2.2, 3.2)
    room = Box((-1.0, -half_width, 0.0), (length, half_width, 2.7), inside=True)
    area = (length + 1.0) * 2 * half_width
    footprints, boxes = [], [room]
    for name in CLUTTER_ORDER * 3:
        if sum((f[2] - f[0]) * (f[3] - f[1]) for f in footprints) >= cover * area:
            break
        size = [rng.uniform(*FURNITURE[name][0]), rng.uniform(*FURNITURE[name][1])]
        for _ in range(40):                            # a free spot
            turned = bool(rng.random() < 0.5)
            sx, sy = size[::-1] if turned else size
            x = rng.uniform(-1.0, length - sx)
            y = rng.uniform(-half_width, half_width - sy)
            if name in AGAINST_A_WALL:                 # its long side against the nearest wall
                wall = int(rng.integers(3))
                if wall == 2:
                    x = length - sx
                else:
                    y = half_width - sy if wall else -half_width
            footprint = (x - 0.05, y - 0.05, x + sx + 0.05, y + sy + 0.05)
            clear = all(footprint[2] <= f[0] or f[2] <= footprint[0] or footprint[3] <= f[1] or f[3] <= footprint[1]
                        for f in footprints + [CAMERA_CLEARANCE])
            if clear:
                footprints.append((x, y, x + sx, y + sy))
                boxes += _furniture_boxes(name, (x, y), *size, turned)
                break
    covered = sum((f[2] - f[0]) * (f[3] - f[1]) for f in footprints)
    return boxes, covered / area


def cluttered_room_view(rng, pitch_deg=None, cover=(0.30, 0.50), lidar=False):
    """The furnished room a camera-only robot sees: clutter on 30-50 % of the floor (or the range given),
    1.3 m, pitch 5-20 degrees (drawn unless given), roll 0-3 degrees either way."""
    camera = CameraModel.pinhole(640, 480, 518.9, cx=325.6, cy=253.7)
    boxes, cover = cluttered_room_boxes(rng, rng.uniform(*cover))
    position = np.array([0.0, rng.uniform(-0.3, 0.3), 1.3])
    pitch = np.radians(rng.uniform(5.0, 20.0) if pitch_deg is None else pitch_deg)
    roll = np.radians(rng.uniform(0.0, 3.0)) * rng.choice((-1, 1))
    beams = np.linspace(-15.0, 15.0, 16) if lidar else np.zeros(0)
    view = render(camera, position, pitch, boxes, (-0.05, 0.0, 0.12), beams, 0.2, 60.0, roll_rad=roll,
                  yaw_rad=np.radians(rng.uniform(-20.0, 20.0)))
    view.floor_cover = cover
    return view


def smooth_field(height, width, rng, waves=3):
    """Low-frequency field scaled to [-1, 1]."""
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    field = np.zeros((height, width), np.float32)
    for _ in range(waves):
        fu, fv = rng.uniform(0.3, 1.5, 2) * 2 * np.pi / np.array([width, height])
        field += np.sin(fu * u + fv * v + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return field / max(float(np.abs(field).max()), 1e-6)


def predict(view, kind, rng, amplitude=0.05, noise=0.01, scale=2.0, shift=0.3):
    """Relative sqrt-disparity prediction of the view's depth with a non-affine error of `kind`.

    kind 'smooth': depth * (1 + amplitude * low-frequency field); 'object': each object (and the
    floor) gets its own depth factor 1 + N(0, amplitude), with sharp edges. Sky is predicted far.
    """
    depth = np.where(np.isfinite(view.depth), view.depth, 300.0)
    if kind == 'smooth':
        factor = 1.0 + amplitude * smooth_field(*depth.shape, rng)
    elif kind == 'object':
        offsets = 1.0 + amplitude * rng.standard_normal(int(view.object_id.max()) + 2)
        offsets[FLOOR_ID] = 1.0 + 0.3 * amplitude * rng.standard_normal()
        factor = offsets[np.clip(view.object_id, 0, None)]
    else:
        raise ValueError(f'kind: expected smooth or object, got {kind!r}')
    distorted = depth * factor * (1.0 + noise * rng.standard_normal(depth.shape))
    return (scale / np.sqrt(np.maximum(distorted, 1e-3)) + shift).astype(np.float32)


def corrupt_lidar(points, rng, outlier_fraction, range_noise=0.02):
    """Range noise on every return and gross outliers: mostly spurious near returns, some far ones."""
    distance = np.linalg.norm(points, axis=1, keepdims=True)
    unit = points / np.maximum(distance, 1e-9)
    distance = distance + range_noise * rng.standard_normal(distance.shape)
    bad = rng.random(len(points)) < outlier_fraction
    near = rng.random(len(points)) < 0.7
    factor = np.where(near, rng.uniform(0.15, 0.85, len(points)), rng.uniform(1.2, 2.5, len(points)))
    distance[bad, 0] *= factor[bad]
    return unit * distance


def rotate_points(points, pitch_rad=0.0, yaw_rad=0.0):
    """A small extrinsic error: rotate optical-frame points about the camera's x (pitch) and y (yaw) axes."""
    c, s = np.cos(pitch_rad), np.sin(pitch_rad)
    pitch = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    yaw = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return points @ (yaw @ pitch).T


def random_pixel_samples(depth, count, rng, noise=0.01):
    """A VOID-like sparse map: `count` random pixels with valid depth, small relative noise."""
    valid = np.flatnonzero(np.isfinite(depth.ravel()))
    pick = rng.choice(valid, min(count, len(valid)), replace=False)
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse.ravel()[pick] = depth.ravel()[pick] * (1.0 + noise * rng.standard_normal(len(pick)))
    return sparse
