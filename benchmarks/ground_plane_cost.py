"""CPU of the ground-plane mode per 640x480 frame, measured directly on the frames it runs on.

The cluttered rooms of the alignment benchmark are 640x480. Each room is one fixed mount, its pose in TF as
a robot publishes it (static base_footprint -> base_link -> camera_link -> camera optical frame, looked up
every frame: the node's default `use_tf`). The pose is seen on one frame (the pose's first frame, when its
floor geometry is made) and then on a second frame with another prediction, as the node sees frame after
frame. Timed with the process's CPU time, per frame:

- floor selection: the mode's samples (`get_mode('ground_plane').samples`, the node's request), with the TF
  lookup of the camera's pose;
- fit: `fit_to_sparse_depth` with what the mode hands over (the samples' pixels, the floor line);
- mode = both: what the ground-plane mode costs the host whatever the device (on CUDA the metres are made
  on the GPU, `apply_alignment` on the tensor);
- metres: `apply_alignment` on the numpy map, the CPU path's last step (the same for every mode);
- first frame of a pose: the mode on the frame that makes the pose's floor geometry.

A round times every room once; the table gives the median over the frames of each round, as the median of
the rounds and the best round (a shared or throttled machine slows whole rounds, not single frames).
"""
import argparse
import dataclasses
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alignment_bench  # noqa: E402
import alignment_scenes as scenes  # noqa: E402

from depthmaster_ros.alignment import (  # noqa: E402
    apply_alignment,
    camera_to_base_from_height_pitch_roll,
    fit_to_sparse_depth,
)
from depthmaster_ros.alignment.modes import SparseSamples, get_mode  # noqa: E402
from depthmaster_ros.geometry import RigidTransform, TransformBuffer, optical_from_body  # noqa: E402

PARTS = ('floor selection', 'fit', 'mode', 'metres', 'first frame of a pose')
ROUNDS = 7


BASE_HEIGHT_M = 0.1        # base_link above base_footprint


def mount(view):
    """The view's camera pose as a robot's static TF tree (the optical frame is the request's 'camera')."""
    base_from_optical = camera_to_base_from_height_pitch_roll(view.height_m, view.pitch_rad,
                                                              getattr(view, 'roll_rad', 0.0))
    lift = RigidTransform(np.eye(3), np.array([0.0, 0.0, BASE_HEIGHT_M]))
    transforms = TransformBuffer()
    transforms.set_transform('base_footprint', 'base_link', lift, static=True)
    transforms.set_transform('base_link', 'camera_link', lift.inverse() @ base_from_optical @ optical_from_body(),
                             static=True)
    transforms.set_transform('camera_link', 'camera', optical_from_body().inverse(), static=True)
    return transforms


def rooms(quick=False):
    """(view, settings, TF, prediction for the pose's first frame, prediction for the next) per cluttered room."""
    settings = alignment_bench.node_settings()
    out = []
    for index in alignment_bench.seeds_of(alignment_bench.CLUTTERED_ROOMS, quick):
        seed = alignment_bench.CLUTTERED_SEED + index
        view = alignment_bench.make_view('cluttered_room', seed)
        first, second = (scenes.predict(view, 'smooth', np.random.default_rng([seed, k])) for k in (1, 2))
        room = dataclasses.replace(alignment_bench.ground_settings(settings, view), use_tf=True,
                                   base_frame='base_footprint')
        out.append((view, room, mount(view), first, second))
    return out


def _mode(settings, view, transforms, relative):
    """(floor selection s, fit s, the fit's record or None) for one frame, as the node runs the mode."""
    clock = time.process_time
    started = clock()
    outcome = get_mode('ground_plane').samples(alignment_bench.request(settings, view.camera, None, relative,
                                                                      transforms))
    selected = clock()
    if not isinstance(outcome, SparseSamples):
        return selected - started, 0.0, None
    record = fit_to_sparse_depth(relative, alignment_bench.SPACE, outcome.depth, min_depth=settings.min_depth,
                                 max_depth=settings.max_depth, min_points=settings.min_points,
                                 **alignment_bench.fit_hints(outcome))
    return selected - started, clock() - selected, record


def measure(quick=False, rounds=ROUNDS):
    """{part: [median ms over the rooms, one per round]}."""
    frames = rooms(quick)
    per_round = {part: [] for part in PARTS}
    for _ in range(rounds):
        times = {part: [] for part in PARTS}
        for view, settings, transforms, first, second in frames:
            # the pose's first frame (the other rooms' poses came in between), then the next frame of the mount
            select_s, fit_s, _ = _mode(settings, view, transforms, first)
            times['first frame of a pose'].append(select_s + fit_s)
            select_s, fit_s, record = _mode(settings, view, transforms, second)
            times['floor selection'].append(select_s)
            times['fit'].append(fit_s)
            times['mode'].append(select_s + fit_s)
            if record is not None and record.ok:
                started = time.process_time()
                apply_alignment(second, alignment_bench.SPACE, record.scale, record.shift, settings.min_depth,
                                settings.max_depth)
                times['metres'].append(time.process_time() - started)
        for part in PARTS:
            per_round[part].append(1e3 * float(np.median(times[part])) if times[part] else float('nan'))
    return per_round


def markdown(per_round):
    lines = ['| CPU ms per 640x480 frame | ' + ' | '.join(PARTS) + ' | mode + metres |',
             '|---|' + '---|' * (len(PARTS) + 1)]
    for name, pick in (('median of the rounds', np.median), ('best round', np.min)):
        values = {part: float(pick(per_round[part])) for part in PARTS}
        lines.append(f'| {name} | ' + ' | '.join(f'{values[part]:.2f}' for part in PARTS) +
                     f' | {values["mode"] + values["metres"]:.2f} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='two rooms, two rounds (the test runs this)')
    parser.add_argument('--rounds', type=int, default=ROUNDS)
    args = parser.parse_args(argv)
    per_round = measure(args.quick, 2 if args.quick else args.rounds)
    count = len(alignment_bench.seeds_of(alignment_bench.CLUTTERED_ROOMS, args.quick))
    print(f'\nGround-plane mode, {count} cluttered rooms at 640x480, fixed mount (process CPU time):\n')
    print(markdown(per_round))
    return per_round


if __name__ == '__main__':
    main()
