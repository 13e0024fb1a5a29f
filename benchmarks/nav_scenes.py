"""Ray-cast scenes for the navigation benchmark: a furnished room and a warehouse aisle at robot height.

Built from alignment_scenes' boxes and ray caster (exact depth per pixel, a 16-beam LiDAR that sees
from its own position). Obstacles go down to 10 cm tall; the room has thin table legs under a table
top that overhangs free floor, a thin pole and a doorway in a partition wall; the aisle has shelves,
a 15 cm pallet, a post and a stack of boxes. Every surface is a box face or the floor, so the
distance from any point to the nearest surface is exact (`surface_distance`).
"""
from dataclasses import dataclass

from alignment_scenes import Box, View, render
import numpy as np

from depthmaster_ros.geometry import CameraModel

CAMERA = CameraModel.pinhole(640, 480, 500.0)
LIDAR_BEAMS_DEG = np.linspace(-15.0, 15.0, 16)
LIDAR_OFFSET = (-0.05, 0.0, 0.12)            # forward, left, up from the camera centre


def _legs(x0, y0, x1, y1, top, size=0.04):
    return [Box((x, y, 0.0), (x + size, y + size, top)) for x in (x0, x1 - size) for y in (y0, y1 - size)]


def room_boxes():
    boxes = [Box((-1.0, -3.0, 0.0), (7.0, 3.0, 2.7), inside=True),
             Box((2.0, -0.4, 0.68), (3.2, 0.4, 0.72)),                 # table top over free floor
             *_legs(2.0, -0.4, 3.2, 0.4, 0.68),                       # its thin legs
             Box((1.5, 0.8, 0.0), (1.8, 1.1, 0.10)),                  # a 10 cm obstacle
             Box((3.5, 1.0, 0.0), (4.0, 1.5, 0.45)),                  # a stool
             Box((4.5, -2.4, 0.0), (5.0, -1.4, 1.9)),                 # a cabinet
             Box((1.2, -0.9, 0.0), (1.23, -0.87, 1.5)),               # a thin pole
             Box((5.5, -3.0, 0.0), (5.6, -0.45, 2.7)),                # partition wall with a 0.9 m doorway
             Box((5.5, 0.45, 0.0), (5.6, 3.0, 2.7))]
    return boxes


def aisle_boxes():
    return [Box((-1.0, -2.0, 0.0), (20.0, 2.0, 6.0), inside=True),
            Box((0.0, 1.2, 0.0), (15.0, 2.0, 2.5)),                    # shelves on both sides
            Box((0.0, -2.0, 0.0), (15.0, -1.2, 2.5)),
            Box((3.0, -0.6, 0.0), (4.2, 0.4, 0.15)),                   # a pallet
            Box((6.0, 0.9, 0.0), (6.1, 1.0, 3.0)),                     # a post
            Box((8.0, -1.0, 0.0), (9.0, 0.2, 1.2))]                    # stacked boxes


# (scene, camera height m, pitch down deg, x, y): robot heights 0.3-1.2 m, pitched 0-20 degrees
POSES = (('room', 0.3, 0.0, 0.0, 0.0), ('room', 0.6, 7.0, 0.3, -0.3), ('room', 0.9, 14.0, -0.2, 0.2),
         ('room', 1.2, 20.0, 0.0, 0.4), ('aisle', 0.3, 5.0, 0.0, 0.0), ('aisle', 0.6, 10.0, 0.5, 0.2),
         ('aisle', 0.9, 15.0, 0.0, -0.2), ('aisle', 1.2, 20.0, 1.0, 0.0))
SCENES = {'room': room_boxes, 'aisle': aisle_boxes}


@dataclass
class NavView:
    name: str
    view: View
    boxes: list


def views(quick=False):
    poses = POSES[::4] if quick else POSES
    out = []
    for scene, height, pitch_deg, x, y in poses:
        boxes = SCENES[scene]()
        view = render(CAMERA, np.array([x, y, height]), np.radians(pitch_deg), boxes, LIDAR_OFFSET,
                      LIDAR_BEAMS_DEG, 0.2, 60.0, max_range=60.0)
        out.append(NavView(f'{scene}_h{height:.1f}_p{pitch_deg:.0f}', view, boxes))
    return out


def surface_distance(points_world, boxes):
    """Distance of each world point to the nearest surface: the floor or any box face."""
    distance = np.abs(points_world[:, 2])
    for box in boxes:
        low, high = np.asarray(box.low), np.asarray(box.high)
        if box.inside:                 # the room's walls and ceiling, seen from inside
            to_face = np.minimum(points_world - low, high - points_world)
            face = np.abs(to_face).min(axis=1)
        else:
            outside = np.maximum(np.maximum(low - points_world, points_world - high), 0.0)
            inside = np.minimum(points_world - low, high - points_world).min(axis=1)
            face = np.where(outside.max(axis=1) > 0, np.linalg.norm(outside, axis=1), inside)
        distance = np.minimum(distance, face)
    return distance
