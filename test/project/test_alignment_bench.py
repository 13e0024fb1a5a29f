"""The alignment benchmark runs in its quick mode and its numbers mean what the table says."""
import alignment_bench
import ground_plane_cost
import numpy as np


def test_quick_run_covers_every_probe_with_finite_ratios():
    table, summary = alignment_bench.main(['--quick', '--method', 'global'])
    probes = {row['probe'] for row in table}
    assert {'street_outliers_0', 'street_outliers_20', 'street_outliers_40', 'room_lidar16', 'void_50', 'void_150',
            'narrow_8m', 'narrow_30m', 'contamination_55', 'extrinsic_pitch_2deg', 'ground_room',
            'ground_street_van', 'ground_cluttered_room', 'ground_cluttered_low', 'ground_street',
            'ground_street_drive'} <= probes
    clean = [row for row in table if row['probe'] == 'street_outliers_0']
    # with clean LiDAR over the whole street the global fit is about as good as the all-pixel oracle
    assert all(0.8 < row['abs_rel'] < 1.2 for row in clean)
    assert summary['global']['frames'] == sum(row['frames'] for row in table if row['method'] == 'global')
    assert summary['global+filter']['frames'] == 4           # one street drive of four frames through the filter


def test_camera_only_table_counts_refusals_and_errors():
    rows = alignment_bench.run(quick=True, methods=('global',), probes=('ground_cluttered_low',))
    (line,) = alignment_bench.ground_table(rows)
    assert line['frames'] == 4 and line['refused'] == sum(not row['ok'] for row in rows)
    accepted = [abs(row['scale_error']) for row in rows if row['ok']]
    assert line['worst_abs_scale_error'] == max(accepted) and line['wrong_ok'] == sum(e > 0.1 for e in accepted)
    assert 0 < line['floor_oracle'] < 0.1


def test_oracle_is_the_best_global_fit_on_its_own_pixels():
    rng = np.random.default_rng(0)
    depth = rng.uniform(2.0, 40.0, (30, 40)).astype(np.float32)
    relative = (2.0 / np.sqrt(depth) + 0.3).astype(np.float32)
    scores = alignment_bench.metrics(alignment_bench.oracle(relative, depth, 80.0), depth, 80.0)
    assert scores['abs_rel'] < 1e-5 and scores['delta1'] == 1.0 and abs(scores['scale_error']) < 1e-5


def test_ground_plane_cost_times_each_part_of_the_mode_on_640x480_rooms():
    rooms = ground_plane_cost.rooms(quick=True)
    assert all(first.shape == second.shape == (480, 640) for _, _, _, first, second in rooms)
    # the pose the mode looks up in TF is the view's: the floor lies camera height below the optical frame
    view, settings, transforms, _, _ = rooms[0]
    pose = transforms.lookup(settings.base_frame, 'camera', 1)
    assert settings.use_tf and abs(pose.translation[2] - view.height_m) < 1e-9
    per_round = ground_plane_cost.main(['--quick'])
    assert set(per_round) == set(ground_plane_cost.PARTS) and all(len(v) == 2 for v in per_round.values())
    # every part ran (positive CPU time), and the mode is the selection and the fit of the same frames
    assert all(value > 0 for values in per_round.values() for value in values)
    assert all(mode >= max(select, fit) for mode, select, fit in zip(
        per_round['mode'], per_round['floor selection'], per_round['fit']))
