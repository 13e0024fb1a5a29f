"""Alignment benchmark (`make bench-alignment`): accuracy, honesty and cost of the metric alignment.

Every case runs the node's own alignment path at the node's default parameters (the alignment mode
turns the inputs into samples, then `metric_depth_from_sparse`) on ray-cast scenes (alignment_scenes.py)
and compares the result with the all-pixel global oracle: the least-squares scale and shift fitted on
every pixel's true depth. Printed per probe: AbsRel, delta1 and RMSE as ratios to the oracle (lower is
better for AbsRel and RMSE, higher for delta1), the share of ok:true verdicts, the wrong ok:true
verdicts (ok with a scale error above 10 %), the share of frames whose published scale uncertainty
covers the true scale error, the median |scale error| and the alignment time per frame.

The scale error of a frame is the median over valid pixels of aligned / true depth, minus 1.

The ground-plane probes get a second table, what a camera-only robot lives with: the share of frames
refused, the median and worst |scale error| of the accepted ones, the accepted frames with an error
above 10 %, how often the published uncertainty covers the error of an accepted frame, and the floor
oracle (least squares on the true floor pixels: the information in the image). Then the ground-plane
mode's CPU per 640x480 frame, measured on the cluttered rooms as the node runs it (ground_plane_cost.py).
"""
import argparse
import dataclasses
import inspect
import json
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alignment_scenes as scenes  # noqa: E402

from depthmaster_ros.alignment import TemporalAlignmentFilter, apply_alignment, metric_depth_from_sparse, to_space  # noqa: E402
from depthmaster_ros.alignment import fit as alignment_fit  # noqa: E402
from depthmaster_ros.alignment.modes import NoSamples, SampleRequest, SparseSamples, get_mode  # noqa: E402
from depthmaster_ros.config import Config  # noqa: E402
from depthmaster_ros.geometry import StampedCloud  # noqa: E402

SPACE = 'sqrt_disparity'
WRONG_OK_SCALE_ERROR = 0.10
IDENTITY = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]


def methods_available():
    """Alignment methods this version of the package offers (global always)."""
    return tuple(getattr(alignment_fit, 'METHODS', ('global',)))


def oracle(relative, depth, max_depth):
    """All-pixel least-squares scale and shift in the prediction's space, applied."""
    valid = np.isfinite(depth) & (depth < max_depth)
    target = to_space(depth[valid], SPACE)
    scale, shift = alignment_fit.least_squares_scale_shift(relative[valid].astype(np.float64), target)
    return apply_alignment(relative, SPACE, scale, shift, 0.1, 1000.0)


def metrics(metric, depth, max_depth):
    valid = np.isfinite(depth) & (depth < max_depth)
    pred = metric[valid].astype(np.float64)
    gt = depth[valid].astype(np.float64)
    have = np.isfinite(pred)
    if have.mean() < 0.5:
        return dict(abs_rel=np.nan, delta1=0.0, rmse=np.nan, scale_error=np.nan)
    pred, gt = pred[have], gt[have]
    ratio = pred / gt
    return dict(abs_rel=float(np.mean(np.abs(pred - gt) / gt)),
                delta1=float(np.mean(np.maximum(ratio, 1 / ratio) < 1.25)),
                rmse=float(np.sqrt(np.mean((pred - gt) ** 2))),
                scale_error=float(np.median(ratio) - 1.0))


def request(settings, camera, cloud=None, relative=None, transforms=None):
    """A SampleRequest; the prediction goes in only where this version's request has the fields."""
    extra = {}
    names = {field.name for field in dataclasses.fields(SampleRequest)}
    if 'relative' in names:
        extra = dict(relative=relative, space=SPACE)
    return SampleRequest(stamp_ns=1, frame_id='camera', camera=camera, cloud=cloud, cloud_miss_reason='',
                         transforms=transforms, settings=settings, **extra)


def lidar_sparse(settings, view, points, relative):
    cloud = StampedCloud(points.astype(np.float32), 'lidar', 1)
    outcome = get_mode('lidar').samples(request(settings, view.camera, cloud, relative))
    assert isinstance(outcome, SparseSamples), outcome
    return outcome.depth


def ground_sparse(settings, view, relative):
    """(sparse depth, the fit's extra arguments as the node passes them: the samples' pixels, the floor line)."""
    settings = ground_settings(settings, view)
    outcome = get_mode('ground_plane').samples(request(settings, view.camera, None, relative))
    if isinstance(outcome, NoSamples):       # no floor found: the fit refuses an empty sample set the same way
        return np.full(relative.shape, np.nan, np.float32), {}
    assert isinstance(outcome, SparseSamples), outcome
    return outcome.depth, fit_hints(outcome)


def fit_hints(outcome):
    """What the node hands the fit besides the sparse depth: the samples' pixels and the mode's start line."""
    hints = dict(sample_pixels=outcome.pixels)
    if getattr(outcome, 'fit_start', None) is not None:      # (a version of the package without it: no start)
        hints['start'] = outcome.fit_start
    return hints


def ground_settings(settings, view):
    """The node's settings for a camera-only robot at this view's known height, pitch and roll."""
    return dataclasses.replace(settings, alignment_mode='ground_plane', camera_height_m=view.height_m,
                               camera_pitch_rad=view.pitch_rad, camera_roll_rad=getattr(view, 'roll_rad', 0.0))


def band(sparse, low, high):
    return np.where((sparse >= low) & (sparse <= high), sparse, np.nan).astype(np.float32)


def cases(quick):
    """(probe, view kind, seed, prediction kinds, how the samples are made)."""
    seeds = (0,) if quick else (0, 1, 2)
    both = ('smooth', 'object')
    out = []
    for fraction in (0.0, 0.1, 0.2, 0.4):
        out += [(f'street_outliers_{int(fraction * 100)}', 'street', s, both, ('lidar', fraction, 0.0, 0.0))
                for s in seeds]
    out += [('room_lidar16', 'room', s, both, ('lidar', 0.0, 0.0, 0.0)) for s in seeds]
    out += [('void_50', 'room', s, both, ('void', 50)) for s in seeds]
    out += [('void_150', 'room', s, both, ('void', 150)) for s in seeds]
    out += [('narrow_8m', 'street', s, ('smooth',), ('band', 8.0, 8.8)) for s in seeds]
    out += [('narrow_30m', 'street', s, ('smooth',), ('band', 30.0, 33.0)) for s in seeds]
    out += [('contamination_55', 'street', s, ('smooth',), ('lidar', 0.55, 0.0, 0.0)) for s in seeds]
    out += [('extrinsic_pitch_2deg', 'street', s, ('smooth',), ('lidar', 0.0, 2.0, 0.0)) for s in seeds]
    out += [('extrinsic_yaw_2deg', 'street', s, ('smooth',), ('lidar', 0.0, 0.0, 2.0)) for s in seeds]
    out += [('ground_room', 'room', s, ('smooth',), ('ground',)) for s in seeds]
    out += [('ground_street_van', 'street_van', s, ('smooth',), ('ground',)) for s in seeds]
    # what a camera-only robot meets: 24 cluttered rooms and 18 streets, each with both predictions
    out += [('ground_cluttered_room', 'cluttered_room', CLUTTERED_SEED + s, both, ('ground',))
            for s in seeds_of(CLUTTERED_ROOMS, quick)]
    # the hardest of them: pitch 5-8 degrees, furniture on 40-50 % of the floor (half the visible floor hidden)
    out += [('ground_cluttered_low', 'cluttered_low', 300 + s, both, ('ground',)) for s in seeds_of(12, quick)]
    out += [('ground_street', 'street_rolled', 200 + s, both, ('ground',)) for s in seeds_of(18, quick)]
    return out


CLUTTERED_SEED, CLUTTERED_ROOMS = 100, 24


def seeds_of(count, quick):
    return range(2 if quick else count)


def make_view(kind, seed):
    rng = np.random.default_rng(1000 + seed)
    if kind == 'room':
        return scenes.room_view(rng)
    if kind == 'cluttered_room':        # pitch spread evenly over 5-20 degrees; the first (quick) rooms lowest
        return scenes.cluttered_room_view(rng, pitch_deg=5.0 + 15.0 * (seed - CLUTTERED_SEED + 0.5) / CLUTTERED_ROOMS)
    if kind == 'cluttered_low':
        return scenes.cluttered_room_view(rng, pitch_deg=rng.uniform(5.0, 8.0), cover=(0.40, 0.50))
    return scenes.street_view(rng, van=kind == 'street_van', roll_deg=2.0 if kind == 'street_rolled' else 0.0)


def floor_oracle_error(relative, view, settings):
    """Scale error of plain least squares on the true floor pixels within the ground plane's range."""
    floor = (view.object_id == scenes.FLOOR_ID) & (view.depth < settings.ground_plane_max_depth)
    if floor.sum() < settings.min_points:
        return float('nan')
    scale, shift = alignment_fit.least_squares_scale_shift(relative[floor].astype(np.float64),
                                                           to_space(view.depth[floor], SPACE))
    metric = apply_alignment(relative, SPACE, scale, shift, settings.min_depth, settings.max_depth)
    return metrics(metric, view.depth, settings.max_depth)['scale_error']


def node_settings():
    """The node's default alignment settings, with the LiDAR in the camera frame and no TF."""
    return dataclasses.replace(Config.from_params({}).alignment, use_tf=False, lidar_to_camera=tuple(IDENTITY),
                               lidar_frame='lidar')


def run(quick=False, methods=None, probes=None):
    settings = node_settings()
    methods = methods or methods_available()
    views = {}
    rows = []
    for probe, kind, seed, kinds, source in cases(quick):
        if probes and not any(probe.startswith(prefix) for prefix in probes):
            continue
        key = (kind, seed)
        if key not in views:
            views[key] = make_view(kind, seed)
        view = views[key]
        max_depth = settings.max_depth
        for pred_kind in kinds:
            rng = np.random.default_rng([seed, len(probe), 7 if pred_kind == 'smooth' else 11])
            relative = scenes.predict(view, pred_kind, rng)
            reference = metrics(oracle(relative, view.depth, max_depth), view.depth, max_depth)
            for method in methods:
                started, cpu_started = time.perf_counter(), time.process_time()
                sparse, hints = with_hints(sample_source(settings, view, relative, source,
                                                         np.random.default_rng(seed + 17)))
                kwargs = {} if method == 'global' else {'method': method}
                kwargs.update(hints)        # as the node hands them over: the image is not scanned for the samples
                if 'focal_px' in inspect.signature(metric_depth_from_sparse).parameters:
                    kwargs.update(focal_px=view.camera.fy, check_extrinsic=source[0] in ('lidar', 'band'))
                metric, result = metric_depth_from_sparse(relative, SPACE, sparse, min_depth=settings.min_depth,
                                                       max_depth=settings.max_depth,
                                                       min_points=settings.min_points, **kwargs)
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                if not result.ok:       # judge the fit the node refused too: would it have been right?
                    metric = apply_alignment(relative, SPACE, result.scale, result.shift, settings.min_depth,
                                             settings.max_depth)
                scores = metrics(metric, view.depth, max_depth)
                if source[0] == 'ground':
                    scores['floor_oracle_error'] = floor_oracle_error(relative, view, settings)
                rows.append(dict(probe=probe, prediction=pred_kind, method=method, seed=seed, ok=bool(result.ok),
                                 reason=result.reason, time_s=elapsed, cpu_s=cpu,
                                 uncertainty=float(getattr(result, 'scale_uncertainty', float('nan'))),
                                 num_points=int(result.num_points), num_inliers=int(result.num_inliers),
                                 oracle=reference, **scores))
    return rows


DRIVES, DRIVE_FRAMES, FRAME_S = 3, 12, 0.1


def drive_rows(settings, quick=False):
    """Street drives through the node's temporal filter (node defaults), frame by frame at 10 Hz: what a
    camera-only robot publishes, held and pooled fits included. A refused frame is scored with its own fit."""
    rows = []
    for drive in range(1 if quick else DRIVES):
        views = scenes.street_drive(np.random.default_rng(4000 + drive), 4 if quick else DRIVE_FRAMES)
        temporal = TemporalAlignmentFilter(smoothing=settings.temporal_smoothing, hold_s=settings.hold_s)
        for index, view in enumerate(views):
            relative = scenes.predict(view, 'smooth', np.random.default_rng([drive, index, 5]))
            started, cpu_started = time.perf_counter(), time.process_time()
            sparse, hints = ground_sparse(settings, view, relative)
            _, fresh = metric_depth_from_sparse(relative, SPACE, sparse, min_depth=settings.min_depth,
                                             max_depth=settings.max_depth, min_points=settings.min_points, **hints)
            applied = temporal.update(index * FRAME_S, fresh)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            line = applied if applied.ok else fresh
            metric = apply_alignment(relative, SPACE, line.scale, line.shift, settings.min_depth, settings.max_depth)
            scores = metrics(metric, view.depth, settings.max_depth)
            rows.append(dict(probe='ground_street_drive', prediction='smooth', method='global+filter', seed=drive,
                             ok=bool(applied.ok), reason=applied.reason, time_s=elapsed, cpu_s=cpu,
                             uncertainty=float(line.scale_uncertainty), num_points=int(fresh.num_points),
                             num_inliers=int(fresh.num_inliers), held=bool(applied.held),
                             oracle=metrics(oracle(relative, view.depth, settings.max_depth), view.depth,
                                            settings.max_depth),
                             floor_oracle_error=floor_oracle_error(relative, view, settings), **scores))
    return rows


def sample_source(settings, view, relative, source, rng):
    if source[0] == 'lidar':
        _, fraction, pitch_deg, yaw_deg = source
        points = scenes.corrupt_lidar(view.lidar_points, rng, fraction)
        points = scenes.rotate_points(points, np.radians(pitch_deg), np.radians(yaw_deg))
        return lidar_sparse(settings, view, points, relative)
    if source[0] == 'void':
        return scenes.random_pixel_samples(view.depth, source[1], rng)
    if source[0] == 'band':
        points = scenes.corrupt_lidar(view.lidar_points, rng, 0.0)
        return band(lidar_sparse(settings, view, points, relative), source[1], source[2])
    if source[0] == 'ground':
        return ground_sparse(settings, view, relative)
    raise ValueError(source)


def with_hints(sparse):
    """(sparse depth, the fit's extra arguments): the ground plane's samples come with them."""
    return sparse if isinstance(sparse, tuple) else (sparse, {})


def summarise(rows):
    """One line per (probe, prediction kind, method)."""
    groups = {}
    for row in rows:
        groups.setdefault((row['probe'], row['prediction'], row['method']), []).append(row)
    table = []
    for (probe, pred_kind, method), members in groups.items():
        def ratio(name, members=members):
            values = [m[name] / m['oracle'][name] for m in members]
            return float(np.mean(values)), float(np.max(values) if name != 'delta1' else np.min(values))
        abs_rel, abs_rel_worst = ratio('abs_rel')
        delta1, _ = ratio('delta1')
        rmse, _ = ratio('rmse')
        errors = np.array([m['scale_error'] for m in members])
        wrong = sum(1 for m in members if m['ok'] and not abs(m['scale_error']) <= WRONG_OK_SCALE_ERROR)
        covered = [abs(m['scale_error']) <= m['uncertainty'] for m in members
                   if np.isfinite(m['scale_error']) and np.isfinite(m['uncertainty'])]
        table.append(dict(probe=probe, prediction=pred_kind, method=method, frames=len(members),
                          abs_rel=abs_rel, abs_rel_worst=abs_rel_worst, delta1=delta1, rmse=rmse,
                          ok=sum(m['ok'] for m in members), wrong_ok=wrong,
                          covered=(sum(covered), len(covered)),
                          median_abs_scale_error=float(np.nanmedian(np.abs(errors))) if np.any(np.isfinite(errors))
                          else float('nan'),
                          ms=1e3 * float(np.median([m['time_s'] for m in members]))))
    return table


def totals(rows):
    judged = [r for r in rows if np.isfinite(r['scale_error'])]
    wrong = sum(1 for r in rows if r['ok'] and not abs(r['scale_error']) <= WRONG_OK_SCALE_ERROR)
    oks = sum(r['ok'] for r in rows)
    covered = [abs(r['scale_error']) <= r['uncertainty'] for r in judged if np.isfinite(r['uncertainty'])]
    return dict(frames=len(rows), ok=oks, wrong_ok=wrong, wrong_ok_rate=wrong / max(oks, 1),
                coverage=(sum(covered) / len(covered)) if covered else float('nan'))


def ground_table(rows):
    """The camera-only view of the ground-plane probes: one line per (probe, method)."""
    groups = {}
    for row in rows:
        if 'floor_oracle_error' in row:
            groups.setdefault((row['probe'], row['method']), []).append(row)
    table = []
    for (probe, method), members in groups.items():
        accepted = [m for m in members if m['ok']]
        errors = np.abs([m['scale_error'] for m in accepted])
        covered = [abs(m['scale_error']) <= m['uncertainty'] for m in accepted]
        table.append(dict(
            probe=probe, method=method, frames=len(members), refused=len(members) - len(accepted),
            median_abs_scale_error=float(np.nanmedian(errors)) if len(accepted) else float('nan'),
            worst_abs_scale_error=float(np.nanmax(errors)) if len(accepted) else float('nan'),
            wrong_ok=int(np.sum(~(errors <= WRONG_OK_SCALE_ERROR))), covered=(int(sum(covered)), len(covered)),
            held=sum(bool(m.get('held')) for m in accepted),
            pooled=sum(m['reason'].startswith('pooled') for m in accepted),
            floor_oracle=float(np.nanmedian(np.abs([m['floor_oracle_error'] for m in members])))))
    return table


def _header(*columns):
    """A markdown table's first two lines."""
    return ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]


def _covered(line):
    return f'{line["covered"][0]}/{line["covered"][1]}' if line['covered'][1] else 'n/a'


def ground_markdown(table):
    lines = _header('probe', 'method', 'frames', 'refused', 'held / pooled', 'accepted: median abs scale err',
                    'worst accepted', 'wrong ok', 'covered (accepted)', 'floor oracle median')
    for t in table:
        covered = _covered(t)
        lines.append(f'| {t["probe"]} | {t["method"]} | {t["frames"]} | {t["refused"]} '
                     f'({100 * t["refused"] / t["frames"]:.0f} %) | {t["held"]} / {t["pooled"]} | '
                     f'{100 * t["median_abs_scale_error"]:.1f} % | '
                     f'{100 * t["worst_abs_scale_error"]:.1f} % | {t["wrong_ok"]} | {covered} | '
                     f'{100 * t["floor_oracle"]:.1f} % |')
    return '\n'.join(lines)


def markdown(table, summary):
    lines = _header('probe', 'prediction', 'method', 'frames', 'AbsRel x', 'worst', 'delta1 x', 'RMSE x', 'ok',
                    'wrong ok', 'covered', 'med abs scale err', 'ms/frame')
    for t in table:
        covered = _covered(t)
        lines.append(f'| {t["probe"]} | {t["prediction"]} | {t["method"]} | {t["frames"]} | {t["abs_rel"]:.3f} | '
                     f'{t["abs_rel_worst"]:.3f} | {t["delta1"]:.3f} | {t["rmse"]:.3f} | {t["ok"]} | {t["wrong_ok"]} | '
                     f'{covered} | {100 * t["median_abs_scale_error"]:.1f} % | {t["ms"]:.1f} |')
    for method, values in summary.items():
        lines.append('')
        lines.append(f'{method}: {values["ok"]}/{values["frames"]} ok, wrong ok:true {values["wrong_ok"]} '
                     f'({100 * values["wrong_ok_rate"]:.1f} % of ok), uncertainty covers the scale error in '
                     f'{100 * values["coverage"]:.0f} % of frames')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='one scene per probe (the test runs this)')
    parser.add_argument('--json', type=Path, help='also write every frame and the table here')
    parser.add_argument('--method', action='append', choices=('global', 'local'), help='default: every available')
    parser.add_argument('--probe', action='append', help='only probes whose name starts with this (repeatable)')
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run(args.quick, tuple(args.method) if args.method else None, args.probe)
    if not args.probe or any('ground_street_drive'.startswith(prefix) for prefix in args.probe):
        rows += drive_rows(node_settings(), args.quick)
    table = summarise(rows)
    summary = {method: totals([r for r in rows if r['method'] == method]) for method in dict.fromkeys(
        r['method'] for r in rows)}
    ground = ground_table(rows)
    print(markdown(table, summary))
    print('\nGround plane, camera only (refused share, accepted frames\' error, floor oracle):\n')
    print(ground_markdown(ground))
    cost = None
    if not args.probe or any('ground_cluttered_room'.startswith(prefix) for prefix in args.probe):
        import ground_plane_cost
        cost = ground_plane_cost.main(['--quick'] if args.quick else [])
    print(f'\n{len(rows)} frames in {time.perf_counter() - started:.1f} s')
    if args.json:
        args.json.write_text(json.dumps(dict(rows=rows, table=table, summary=summary, ground=ground,
                                             ground_cost=cost), indent=1, default=float))
    return table, summary


if __name__ == '__main__':
    main()
