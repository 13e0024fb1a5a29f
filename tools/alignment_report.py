#!/usr/bin/env python3
"""Print how well relative depth is turned into metres on the synthetic scene, per space.

Columns: LiDAR AbsRel after the robust fit (2 % range noise, 20 % gross outliers), the oracle AbsRel
(least squares on all ground-truth pixels), their ratio, LiDAR pixel coverage, the share of
occlusion see-through points the filter removes (noise-free LiDAR, so see-through is unambiguous),
and the ground-plane scale error (median aligned / true depth - 1, worst frame). Other values
are means over the frames.

    python tools/alignment_report.py [--times 0 1.5 3] [--occlusion-window 15]
"""
import argparse
import sys

import numpy as np

from depthmaster_ros.alignment import Space
from depthmaster_ros.synthetic import SyntheticScene, count_see_through, ground_plane_scale_error, lidar_alignment_accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--times', type=float, nargs='+', default=[0.0, 1.5, 3.0], help='frame times, seconds')
    parser.add_argument('--occlusion-window', type=int, default=15, help='occlusion filter window, pixels')
    parser.add_argument('--ground-max-depth', type=float, default=10.0, help='ground-plane max depth, metres')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)

    noisy = SyntheticScene(lidar_range_noise=0.02, lidar_outlier_fraction=0.2, seed=args.seed)
    clean = SyntheticScene(seed=args.seed)
    noisy_frames = [noisy.render(t) for t in args.times]
    clean_frames = [clean.render(t) for t in args.times]

    print(f'frames at t = {args.times} s')
    for window in sorted({args.occlusion_window, 5}):
        counts = [count_see_through(frame, window) for frame in clean_frames]
        see_through = sum(c.see_through for c in counts)
        removed = see_through - sum(c.kept for c in counts)
        good = sum(c.total for c in counts) - see_through
        good_removed = sum(c.good_removed for c in counts)
        print(f'occlusion window {window:>2} px: see-through LiDAR pixels {see_through}, removed {removed} '
              f'({removed / max(see_through, 1):.1%}); good pixels also removed {good_removed} of {good} '
              f'({good_removed / max(good, 1):.1%})')
    print()
    header = (f'{"space":<15}{"AbsRel":>9}{"oracle":>9}{"ratio":>8}{"coverage":>10}{"inliers":>9}'
              f'{"rmse_m":>8}{"ground worst":>14}')
    print(header)
    print('-' * len(header))
    for space in Space:
        accuracy = [lidar_alignment_accuracy(frame, space, args.seed, args.occlusion_window) for frame in noisy_frames]
        ground = [ground_plane_scale_error(frame, space, args.seed, args.ground_max_depth)[0] for frame in clean_frames]
        worst_ground = max(ground, key=abs)
        abs_rel = np.mean([a.abs_rel for a in accuracy])
        oracle = np.mean([a.oracle_abs_rel for a in accuracy])
        inliers = np.mean([a.result.num_inliers / max(a.result.num_points, 1) for a in accuracy])
        print(f'{space:<15}{abs_rel:>9.4f}{oracle:>9.4f}{abs_rel / oracle:>8.3f}'
              f'{np.mean([a.coverage for a in accuracy]):>10.2%}{inliers:>9.1%}'
              f'{np.mean([a.result.rmse_m for a in accuracy]):>8.3f}{worst_ground:>+14.2%}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
