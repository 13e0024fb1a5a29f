"""A street for the synthetic recordings: the second domain next to the room (fine-tuning learns one from the other).

A straight road (the open world's floor, z = 0) between rows of facades, cars parked along both kerbs,
a few poles, a building closing the far end, and a car ahead in the robot's lane that keeps a varying gap.
The robot drives forward along x at a walking-to-cycling pace, weaving a little within its lane; the
camera sits about 1.5 m up, pitched slightly down, the LiDAR above and behind it as in the room. The
street is drawn once from `street_seed`, so every frame of a recording sees the same street.
"""
import numpy as np

from depthmaster_ros.geometry import RigidTransform, rotation_about

from .scene import CEILING, FLOOR, WALL, Obstacle, SyntheticScene, World

STREET_LENGTH_M = 240.0
FACADE_COLOURS = ((176, 120, 96), (196, 184, 160), (120, 128, 140), (210, 200, 180), (150, 90, 70), (110, 140, 120))
CAR_COLOURS = ((200, 40, 40), (40, 70, 160), (230, 230, 225), (40, 40, 45), (160, 160, 170), (200, 170, 50))
POLE_COLOUR = (95, 100, 105)
ROAD_COLOURS = {FLOOR: (92, 92, 98), WALL: (0, 0, 0), CEILING: (0, 0, 0)}
CAR_AHEAD = (1.8, 4.3, 1.5)          # width, length, height, metres
CAR_AHEAD_COLOUR = (30, 110, 190)


def _box(x0: float, y0: float, x1: float, y1: float, height: float, colour: tuple[int, int, int]) -> Obstacle:
    return ((min(x0, x1), min(y0, y1), 0.0), (max(x0, x1), max(y0, y1), height), colour)


def street_obstacles(rng: np.random.Generator, length_m: float = STREET_LENGTH_M) -> tuple[Obstacle, ...]:
    """Facades (set back 7-11 m, 6-18 m tall), parked cars on both kerbs, poles, and the building at the end."""
    boxes = []
    for side in (1.0, -1.0):
        x = -20.0
        while x < length_m:                                 # facades, with narrow gaps between buildings
            depth_along = rng.uniform(8.0, 20.0)
            setback = rng.uniform(7.0, 11.0)
            colour = FACADE_COLOURS[int(rng.integers(len(FACADE_COLOURS)))]
            boxes.append(_box(x, side * setback, x + depth_along, side * (setback + 10.0), rng.uniform(6.0, 18.0),
                              colour))
            x += depth_along + rng.uniform(0.0, 4.0)
        x = -10.0
        while x < length_m - 10.0:                           # parked cars along the kerb, gaps between them
            x += rng.uniform(1.5, 14.0)
            colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
            boxes.append(_box(x, side * 3.6, x + rng.uniform(3.8, 4.8), side * 5.4, rng.uniform(1.4, 1.8), colour))
            x += 4.8
        for x in np.arange(rng.uniform(0.0, 25.0), length_m, 25.0):      # street lamps
            boxes.append(_box(x, side * 6.0, x + 0.25, side * 6.25, 5.0, POLE_COLOUR))
    boxes.append(_box(length_m, -30.0, length_m + 10.0, 30.0, 25.0, FACADE_COLOURS[0]))   # the street ends
    return tuple(boxes)


class StreetScene(SyntheticScene):
    """The street, its robot (forward at `speed_mps`) and the same sensors as the room's scene.

    Defaults differ from the room where a street differs: camera 1.5 m up, pitched 0.04 rad down,
    1 % LiDAR range noise. Other arguments are SyntheticScene's; the ceiling is ignored (open sky).
    """

    def __init__(self, width: int = 640, height: int = 480, *, camera_height_m: float = 1.5,
                 camera_pitch_rad: float = 0.04, lidar_range_noise: float = 0.01, speed_mps: float = 4.0,
                 street_seed: int = 0, **options: object):
        super().__init__(width, height, camera_height_m=camera_height_m, camera_pitch_rad=camera_pitch_rad,
                         lidar_range_noise=lidar_range_noise, **options)  # type: ignore[arg-type]
        self.speed_mps = float(speed_mps)
        self.street = street_obstacles(np.random.default_rng([street_seed, 25]))
        huge = 1e4                                         # the enclosure is only the road: its walls are sky
        self.low, self.high = np.array([-huge, -huge, 0.0]), np.array([huge, huge, huge])

    def pose_at(self, t_s: float) -> RigidTransform:
        """Forward along the street, weaving within the lane (the path period and amplitude set the weave)."""
        phase = 2.0 * np.pi * t_s / self.path_period_s
        y = -1.6 + 0.2 * self.path_amplitude_m / 1.5 * np.sin(phase)
        yaw = 0.03 * np.cos(phase)
        return RigidTransform(rotation_about('z', yaw), np.array([self.speed_mps * t_s, y, 0.0]))

    def world_at(self, t_s: float) -> World:
        """The street with the car ahead, 9-15 m in front of the robot in its lane."""
        x = self.speed_mps * t_s + 12.0 + 3.0 * np.sin(2.0 * np.pi * t_s / 7.0)
        width, length, height = CAR_AHEAD
        car = _box(x, -1.6 - width / 2, x + length, -1.6 + width / 2, height, CAR_AHEAD_COLOUR)
        return World(self.low, self.high, self.street + (car,), ROAD_COLOURS, open=True)
