"""Navigation benchmark (`make bench-nav`): what a costmap makes of each depth output.

Scenes (nav_scenes.py): a furnished room and a warehouse aisle, exact ray-cast depth, cameras 0.3-1.2 m
high pitched 0-20 degrees. Metric depth as the pipeline publishes it: a relative prediction with the
project's error models (alignment_scenes.predict, 'smooth' and 'object'), made at a 384 processing
resolution and resized back to 640x480 with the model's antialiased bilinear resize (the flying
pixels at depth edges), aligned by the node's alignment modes at the node's defaults: 16-beam LiDAR
(local method) and ground plane. Depth the node would not publish (alignment not ok) is counted and
skipped.

Costmap (a re-implementation of a nav2 obstacle layer's rule, 2-D, 5 cm cells, robot frame): a point
in the height band within MARK_RANGE of the sensor marks its cell; every point within range clears
the cells on the ray from the sensor to it (floor points too); marking wins. A LaserScan marks its
finite ranges and clears along every beam, to MARK_RANGE for +inf. The reference grid is the same
costmap fed with every pixel of the exact depth.

Rows: depth/points as published today (stride 4, no filtering), depth/obstacles and depth/scan at
the node's navigation defaults. Metrics, over cells within MARK_RANGE of the sensor:
- false obstacles: marked cells farther than FALSE_TOLERANCE_M from every reference obstacle cell,
  as a share of the reference grid's free cells;
- recall: reference obstacle cells with a marked cell within RECALL_TOLERANCE_M (the tolerance a
  mark has before it counts as false), and within RECALL_STRICT_M (recall_15cm); a scan sees only
  the nearest obstacle of each bearing, so the scan row also gives its recall of the cells the scan
  of the exact depth marks (recall_of_exact_scan);
- scan: median and p95 |range error| (relative) against the scan of the exact depth where both are
  finite and the exact range is within MARK_RANGE, and the share of beams whose class (finite, +inf,
  NaN) agrees;
- flying points: share of output points farther than 10 cm from every surface of the scene, split by
  cause: `flying_edges`, those whose pixel is within EDGE_PX pixels of a depth edge of the exact depth
  (where the resize-back blur invents depths: bilinear upsampling from 384 to 640 spreads an edge over
  about 2 pixels each side), and `flying_depth`, those farther from every edge whose depth along the
  ray is off by more than 10 cm (the prediction's own error after alignment); the breakdown below the
  table gives both per metre of range (pooled over the frames);
- CPU ms per frame for scan + obstacle cloud (median of the thread's CPU time, which a busy machine
  inflates less than wall time; wall_ms beside it), kilobytes per cloud (PointCloud2 data: 16 bytes
  a point with rgb as published today, 12 for xyz).
"""
import argparse
import dataclasses
import json
from pathlib import Path
import sys
import time

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alignment_bench  # noqa: E402
import alignment_scenes  # noqa: E402
import nav_scenes  # noqa: E402

from depthmaster_ros.alignment import (
    alignment_confidence,  # noqa: E402
    camera_to_base_from_height_pitch_roll,  # noqa: E402
    metric_depth_from_sparse,  # noqa: E402
)
from depthmaster_ros.config import Config  # noqa: E402
from depthmaster_ros.geometry import depth_to_points  # noqa: E402
from depthmaster_ros.navigation import obstacle_cloud, scan_from_depth  # noqa: E402

CELL_M = 0.05
MARK_RANGE = 4.0
FALSE_TOLERANCE_M = 0.30
RECALL_TOLERANCE_M = 0.30          # as far as a mark may be from an obstacle without being false
RECALL_STRICT_M = 0.15
FLYING_M = 0.10
EDGE_PX = 3                           # pixels from an exact depth edge that count as the edge's
EDGE_JUMP = 0.05                      # relative jump to a neighbour that makes an edge in the exact depth
RANGE_BINS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0)
PROCESSING_SIZE = (288, 384)          # (h, w): processing_res 384 for a 640x480 image
GRID_X = (-0.5, 5.0)                  # robot frame extent of the costmap, metres
GRID_Y = (-4.5, 4.5)
TARGETS = dict(false_obstacles=0.01, recall=0.95, scan_median=0.03, flying=0.01, cpu_ms=2.0, cloud_kb=100.0)


class Costmap:
    """2-D occupancy in the robot frame: marked, cleared (ray-traced free), unknown."""

    def __init__(self):
        self.shape = (int(round((GRID_X[1] - GRID_X[0]) / CELL_M)), int(round((GRID_Y[1] - GRID_Y[0]) / CELL_M)))
        self.marked = np.zeros(self.shape, bool)
        self.cleared = np.zeros(self.shape, bool)

    def cells(self, xy):
        index = np.floor((xy - (GRID_X[0], GRID_Y[0])) / CELL_M).astype(np.int64)
        inside = (index[:, 0] >= 0) & (index[:, 0] < self.shape[0]) & (index[:, 1] >= 0) & (index[:, 1] < self.shape[1])
        return index, inside

    def clear(self, sensor_xy, ends_xy):
        """Free every cell a ray from the sensor passes before reaching its end cell."""
        index, inside = self.cells(ends_xy)
        ends = np.unique(index[inside], axis=0)
        if not len(ends):
            return
        ends_xy = (ends + 0.5) * CELL_M + (GRID_X[0], GRID_Y[0])
        length = np.linalg.norm(ends_xy - sensor_xy, axis=1)
        steps = np.arange(0.0, 1.0, CELL_M / 2 / max(float(length.max()), CELL_M))
        samples = sensor_xy + (ends_xy - sensor_xy)[:, None, :] * steps[None, :, None]
        before_end = (length[:, None] * (1 - steps[None, :])) > CELL_M * 0.75
        index, inside = self.cells(samples[before_end])
        self.cleared[index[inside, 0], index[inside, 1]] = True

    def mark(self, xy):
        index, inside = self.cells(xy)
        self.marked[index[inside, 0], index[inside, 1]] = True

    def free(self):
        return self.cleared & ~self.marked


def cloud_costmap(points_base, sensor_xy, band):
    grid = Costmap()
    reach = np.linalg.norm(points_base[:, :2] - sensor_xy, axis=1) <= MARK_RANGE
    points = points_base[reach]
    grid.clear(sensor_xy, points[:, :2])
    in_band = (points[:, 2] >= band[0]) & (points[:, 2] <= band[1])
    grid.mark(points[in_band, :2])
    return grid


def scan_costmap(scan, sensor_xy):
    grid = Costmap()
    angles, ranges = scan.angles(), scan.ranges.astype(np.float64)
    seen = ~np.isnan(ranges)
    reach = np.where(np.isfinite(ranges), np.minimum(ranges, MARK_RANGE), MARK_RANGE)[seen]
    directions = np.column_stack([np.cos(angles[seen]), np.sin(angles[seen])])
    grid.clear(sensor_xy, sensor_xy + directions * reach[:, None])
    hits = np.isfinite(ranges) & (ranges <= MARK_RANGE)
    grid.mark(np.column_stack([np.cos(angles[hits]), np.sin(angles[hits])]) * ranges[hits, None])
    return grid


def near(cells_mask, radius_m):
    """Cells within radius_m of any True cell (a distance transform)."""
    import cv2
    if not cells_mask.any():
        return np.zeros_like(cells_mask)
    distance = cv2.distanceTransform((~cells_mask).astype(np.uint8), cv2.DIST_L2, 5)
    return distance * CELL_M <= radius_m + 1e-9


def within_range(shape, sensor_xy):
    x = GRID_X[0] + (np.arange(shape[0]) + 0.5) * CELL_M
    y = GRID_Y[0] + (np.arange(shape[1]) + 0.5) * CELL_M
    return np.hypot(x[:, None] - sensor_xy[0], y[None, :] - sensor_xy[1]) <= MARK_RANGE


def grid_scores(grid, reference, sensor_xy):
    area = within_range(grid.shape, sensor_xy)
    obstacles = reference.marked & area
    free = reference.free() & area
    false = grid.marked & area & ~near(obstacles, FALSE_TOLERANCE_M)
    recalled = obstacles & near(grid.marked, RECALL_TOLERANCE_M)
    strict = obstacles & near(grid.marked, RECALL_STRICT_M)
    return dict(false_obstacles=false.sum() / max(free.sum(), 1), recall=recalled.sum() / max(obstacles.sum(), 1),
                recall_15cm=strict.sum() / max(obstacles.sum(), 1))


def scan_scores(scan, exact):
    both = np.isfinite(scan.ranges) & np.isfinite(exact.ranges) & (exact.ranges <= MARK_RANGE)
    error = np.abs(scan.ranges[both] - exact.ranges[both]) / exact.ranges[both]
    kind = lambda r: np.where(np.isnan(r), 0, np.where(np.isinf(r), 1, 2))    # noqa: E731
    return dict(scan_median=float(np.median(error)) if error.size else np.nan,
                scan_p95=float(np.percentile(error, 95)) if error.size else np.nan,
                scan_class_agreement=float(np.mean(kind(scan.ranges) == kind(exact.ranges))))


def published_relative(view, kind, rng, blur=True):
    """The prediction at the processing resolution, resized back as the model does (flying pixels)."""
    import torch

    from depthmaster_ros.model import resize_back
    relative = alignment_scenes.predict(view, kind, rng)
    if not blur:
        return relative
    rows = np.linspace(0, relative.shape[0] - 1, PROCESSING_SIZE[0]).round().astype(int)
    cols = np.linspace(0, relative.shape[1] - 1, PROCESSING_SIZE[1]).round().astype(int)
    small = relative[np.ix_(rows, cols)]
    low, high = float(small.min()), float(small.max())
    unit = torch.from_numpy((small - low) / (high - low))[None, None]
    back = resize_back(unit, relative.shape)[0, 0].numpy()
    return (back * (high - low) + low).astype(np.float32)


def metric_depth(settings, view, relative, mode, rng):
    """(depth_m, confidence) as the node publishes them, or None when the alignment is not ok."""
    if mode == 'lidar':
        points = alignment_scenes.corrupt_lidar(view.lidar_points, rng, 0.0)
        sparse, hints = alignment_bench.lidar_sparse(settings, view, points, relative), {}
    else:
        sparse, hints = alignment_bench.ground_sparse(settings, view, relative)   # the floor samples' pixels too
    depth, result = metric_depth_from_sparse(relative, alignment_bench.SPACE, sparse, min_depth=settings.min_depth,
                                             max_depth=settings.max_depth, min_points=settings.min_points,
                                             method=settings.alignment_method, focal_px=view.camera.fy,
                                             check_extrinsic=mode == 'lidar', **hints)
    if not result.ok:
        return None
    scale, shift = result.scale_shift()
    confidence = alignment_confidence(relative, alignment_bench.SPACE, sparse, scale, shift, settings.min_depth,
                                      settings.max_depth)
    return depth, confidence


def edge_distance(depth):
    """Pixels from the nearest depth edge of the exact depth (a jump above EDGE_JUMP, or invalid depth)."""
    import cv2
    filled = np.where(np.isfinite(depth), depth, np.inf)
    edge = ~np.isfinite(depth)
    with np.errstate(invalid='ignore'):
        for axis in (0, 1):
            a, b = np.moveaxis(filled, axis, 0)[:-1], np.moveaxis(filled, axis, 0)[1:]
            jump = ~(np.abs(a - b) <= EDGE_JUMP * np.minimum(a, b))
            moved = np.moveaxis(edge, axis, 0)
            moved[:-1] |= jump
            moved[1:] |= jump
    return cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)


def flying_split(points_base, flying, camera_to_base, view, edges):
    """Shares of flying points at depth edges and elsewhere with a depth error above FLYING_M, and the
    counts per RANGE_BINS metre (points, flying at edges, flying elsewhere) for the breakdown."""
    camera = view.camera
    points = camera_to_base.inverse().apply(points_base)
    u = np.clip(np.round(camera.fx * points[:, 0] / points[:, 2] + camera.cx).astype(int), 0, camera.width - 1)
    v = np.clip(np.round(camera.fy * points[:, 1] / points[:, 2] + camera.cy).astype(int), 0, camera.height - 1)
    at_edge = edges[v, u] <= EDGE_PX
    off_along_ray = np.abs(points[:, 2] - view.depth[v, u]) > FLYING_M
    bins = np.digitize(np.linalg.norm(points, axis=1), RANGE_BINS[1:-1])
    count = len(RANGE_BINS) - 1
    share = (lambda mask: float(mask.mean())) if len(points) else (lambda mask: 0.0)
    return dict(flying_edges=share(flying & at_edge), flying_depth=share(flying & ~at_edge & off_along_ray),
                by_range_points=np.bincount(bins, minlength=count).tolist(),
                by_range_flying_edges=np.bincount(bins[flying & at_edge], minlength=count).tolist(),
                by_range_flying_elsewhere=np.bincount(bins[flying & ~at_edge], minlength=count).tolist())


def frame_rows(nav_view, depth_m, confidence, navigation, reference):
    view = nav_view.view
    camera_to_base = camera_to_base_from_height_pitch_roll(view.height_m, view.pitch_rad)
    sensor_xy = camera_to_base.translation[:2]
    band = (navigation.obstacle_min_height, navigation.obstacle_max_height)
    world_offset = np.array([view.position[0], view.position[1], 0.0])
    rows = {}
    baseline = camera_to_base.apply(depth_to_points(depth_m, view.camera, 4, organized=False))
    started, started_cpu = time.perf_counter(), time.thread_time()
    scan = scan_from_depth(depth_m, view.camera, camera_to_base, navigation, confidence)
    obstacles = obstacle_cloud(depth_m, view.camera, camera_to_base, navigation, confidence)
    cpu_ms, wall_ms = (time.thread_time() - started_cpu) * 1e3, (time.perf_counter() - started) * 1e3
    for name, points, bytes_per_point in (('depth/points', baseline, 16), ('depth/obstacles', obstacles, 12)):
        grid = cloud_costmap(points, sensor_xy, band)
        flying = nav_scenes.surface_distance(points + world_offset, nav_view.boxes) > FLYING_M
        rows[name] = dict(**grid_scores(grid, reference['grid'], sensor_xy),
                          flying=float(flying.mean()) if len(points) else 0.0,
                          **flying_split(points, flying, camera_to_base, view, reference['edges']),
                          cloud_kb=len(points) * bytes_per_point / 1000.0, grid=grid)
    grid = scan_costmap(scan, sensor_xy)
    against_exact_scan = grid_scores(grid, scan_costmap(reference['scan'], sensor_xy), sensor_xy)
    rows['depth/scan'] = dict(**grid_scores(grid, reference['grid'], sensor_xy), **scan_scores(scan, reference['scan']),
                              recall_of_exact_scan=against_exact_scan['recall'], cpu_ms=cpu_ms, wall_ms=wall_ms, grid=grid)
    rows['depth/obstacles'].update(cpu_ms=cpu_ms, wall_ms=wall_ms)
    return rows


def reference_for(nav_view, navigation):
    view = nav_view.view
    camera_to_base = camera_to_base_from_height_pitch_roll(view.height_m, view.pitch_rad)
    exact = camera_to_base.apply(depth_to_points(view.depth, view.camera, 1, organized=False))
    band = (navigation.obstacle_min_height, navigation.obstacle_max_height)
    exact_scan_settings = dataclasses.replace(navigation, obstacle_edge_threshold=0.0, obstacle_min_confidence=0.0)
    return dict(grid=cloud_costmap(exact, camera_to_base.translation[:2], band), edges=edge_distance(view.depth),
                scan=scan_from_depth(view.depth, view.camera, camera_to_base, exact_scan_settings))


def run(quick=False, params=None, blur=True):
    config = Config.from_params(params or {})
    settings = dataclasses.replace(config.alignment, use_tf=False, lidar_to_camera=tuple(alignment_bench.IDENTITY),
                                   lidar_frame='lidar')
    navigation = config.navigation
    frames, skipped, pictures = [], [], {}
    for nav_view in nav_scenes.views(quick):
        reference = reference_for(nav_view, navigation)
        for kind in ('smooth', 'object'):
            for mode in ('lidar', 'ground_plane'):
                rng = np.random.default_rng([len(frames) + len(skipped), 29])
                relative = published_relative(nav_view.view, kind, rng, blur)
                published = metric_depth(settings, nav_view.view, relative, mode, rng)
                label = f'{nav_view.name}/{kind}/{mode}'
                if published is None:
                    skipped.append(label)
                    continue
                rows = frame_rows(nav_view, *published, navigation, reference)
                if not pictures:
                    pictures = dict(label=label, reference=reference['grid'], **{k: v['grid'] for k, v in rows.items()})
                frames.append(dict(label=label, rows={k: {m: v for m, v in r.items() if m != 'grid'} for k, r in rows.items()}))
    return frames, skipped, pictures


MEDIANS = ('cpu_ms', 'wall_ms', 'scan_median', 'scan_p95')     # per-frame medians; the rest are means
COLUMNS = ('false_obstacles', 'recall', 'recall_15cm', 'recall_of_exact_scan', 'scan_median', 'scan_p95',
           'scan_class_agreement', 'flying', 'flying_edges', 'flying_depth', 'cpu_ms', 'wall_ms', 'cloud_kb')


def summarise(frames):
    table = {}
    for output in ('depth/points', 'depth/obstacles', 'depth/scan'):
        values = [frame['rows'][output] for frame in frames]
        table[output] = {metric: np.sum([v[metric] for v in values], axis=0).tolist() if metric.startswith('by_range')
                         else float((np.median if metric in MEDIANS else np.mean)([v[metric] for v in values]))
                         for metric in values[0]}
    return table


def format_table(table):
    lines = ['| output | ' + ' | '.join(COLUMNS) + ' |', '|---' * (len(COLUMNS) + 1) + '|']
    for output, row in table.items():
        cells = []
        for column in COLUMNS:
            value = row.get(column)
            if value is None:
                cells.append('—')
            elif column in ('cpu_ms', 'wall_ms', 'cloud_kb'):
                cells.append(f'{value:.2f}')
            else:
                cells.append(f'{value * 100:.2f} %')
        lines.append(f'| `{output}` | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def format_flying(row):
    """The obstacle cloud's flying points per metre of range, pooled over the frames."""
    lines = ['range m | points | flying at edges | flying elsewhere', '---|---|---|---']
    for index, (low, high) in enumerate(zip(RANGE_BINS[:-1], RANGE_BINS[1:])):
        points = row['by_range_points'][index]
        lines.append(f'{low:.0f}-{high:.0f} | {points} | {row["by_range_flying_edges"][index]} | '
                     f'{row["by_range_flying_elsewhere"][index]}')
    return '\n'.join(lines)


def verdicts(table):
    obstacles, scan, baseline = table['depth/obstacles'], table['depth/scan'], table['depth/points']
    checks = {
        'false obstacles <= 1 % and below the baseline (obstacles)': obstacles['false_obstacles'] <= TARGETS['false_obstacles']
        and obstacles['false_obstacles'] < baseline['false_obstacles'],
        'false obstacles <= 1 % and below the baseline (scan)': scan['false_obstacles'] <= TARGETS['false_obstacles']
        and scan['false_obstacles'] < baseline['false_obstacles'],
        'recall >= 95 % (obstacles)': obstacles['recall'] >= TARGETS['recall'],
        'recall >= 95 % (scan)': scan['recall'] >= TARGETS['recall'],
        'scan median |error| <= 3 % within 4 m': scan['scan_median'] <= TARGETS['scan_median'],
        'flying points <= 1 % (obstacles)': obstacles['flying'] <= TARGETS['flying'],
        'scan + obstacles <= 2 ms CPU per frame': scan['cpu_ms'] <= TARGETS['cpu_ms'],
        'obstacle cloud <= 100 KB per frame': obstacles['cloud_kb'] <= TARGETS['cloud_kb'],
    }
    return checks


def write_picture(pictures, path):
    """Reference | depth/points | depth/obstacles | depth/scan: free light, unknown grey, obstacle black,
    false obstacle (beyond the tolerance of every reference obstacle) red."""
    from PIL import Image
    reference = pictures['reference']
    tolerance = near(reference.marked, FALSE_TOLERANCE_M)
    panels = []
    for name in ('reference', 'depth/points', 'depth/obstacles', 'depth/scan'):
        grid = pictures[name]
        image = np.full(grid.shape + (3,), 128, np.uint8)
        image[grid.free()] = (235, 235, 235)
        image[grid.marked] = (0, 0, 0)
        if name != 'reference':
            image[grid.marked & ~tolerance] = (220, 30, 30)
        image = np.flip(image, axis=(0, 1))                 # x (forward) up the picture, y (left) to the left
        panels.append(np.pad(image, ((4, 4), (4, 4), (0, 0)), constant_values=255))
    picture = np.concatenate(panels, axis=1)
    Image.fromarray(picture).resize((picture.shape[1] * 2, picture.shape[0] * 2), Image.NEAREST).save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='two views (the test runs this)')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=YAML',
                        help='a node parameter other than its default, e.g. obstacle_min_confidence=0.0')
    parser.add_argument('--no-resize-blur', action='store_true',
                        help='predict at the image size (no flying pixels): what the error models alone cost')
    parser.add_argument('--out', type=Path, default=Path('bench_out'), help='folder for nav.json and nav_costmap.png')
    args = parser.parse_args(argv)
    params = {name: yaml.safe_load(value) for name, value in (item.split('=', 1) for item in args.param)}
    frames, skipped, pictures = run(args.quick, params, not args.no_resize_blur)
    table = summarise(frames)
    checks = verdicts(table)
    print(format_table(table))
    print('\ndepth/obstacles flying points by range:\n' + format_flying(table['depth/obstacles']))
    print(f'\nframes: {len(frames)} published, {len(skipped)} not published (alignment not ok): {skipped}')
    for text, met in checks.items():
        print(f'{"met    " if met else "NOT met"}  {text}')
    args.out.mkdir(parents=True, exist_ok=True)
    write_picture(pictures, args.out / 'nav_costmap.png')
    (args.out / 'nav.json').write_text(json.dumps(dict(table=table, checks=checks, frames=frames, skipped=skipped,
                                                       picture=pictures['label']), indent=1, default=float))
    print(f'wrote {args.out / "nav.json"} and {args.out / "nav_costmap.png"} ({pictures["label"]})')
    return table


if __name__ == '__main__':
    main()
