"""The navigation benchmark's costmap and metrics mean what its table says, and its quick run completes."""
import nav_bench
import nav_scenes
import numpy as np

from depthmaster_ros.navigation import Scan


def test_costmap_marks_in_band_points_and_clears_the_rays_to_every_point():
    sensor = np.array([0.0, 0.0])
    points = np.array([[2.0, 0.0, 0.5], [3.0, 1.0, 0.0], [3.5, -1.0, 2.5]])     # obstacle, floor, above band
    grid = nav_bench.cloud_costmap(points, sensor, (0.05, 1.2))
    marked = np.argwhere(grid.marked)
    assert len(marked) == 1 and np.allclose((marked[0] + 0.5) * nav_bench.CELL_M + (nav_bench.GRID_X[0], nav_bench.GRID_Y[0]),
                                            (2.025, 0.025))
    index, _ = grid.cells(np.array([[1.0, 0.0], [1.5, 0.5], [2.5, 0.0]]))
    assert grid.free()[index[0, 0], index[0, 1]] and grid.free()[index[1, 0], index[1, 1]]
    assert not grid.cleared[index[2, 0], index[2, 1]]             # behind the obstacle: unknown


def test_scan_costmap_clears_inf_beams_to_the_marking_range_and_ignores_nan():
    scan = Scan(-0.1, 0.1, 0.1, 0.1, 8.0, np.array([np.inf, 2.0, np.nan], np.float32))
    grid = nav_bench.scan_costmap(scan, np.array([0.0, 0.0]))
    index, _ = grid.cells(np.array([[3.9, 3.9 * np.tan(-0.1)], [2.0, 0.0], [3.0, 3.0 * np.tan(0.1)]]))
    assert grid.free()[index[0, 0], index[0, 1]]
    assert grid.marked[index[1, 0], index[1, 1]]
    assert not grid.cleared[index[2, 0], index[2, 1]]


def test_false_obstacles_and_recall_count_cells_against_the_reference():
    reference, output = nav_bench.Costmap(), nav_bench.Costmap()
    sensor = np.array([0.0, 0.0])
    reference.clear(sensor, np.array([[3.0, y] for y in np.linspace(-1, 1, 41)]))
    reference.mark(np.array([[2.0, 0.0]]))
    output.mark(np.array([[2.1, 0.0], [1.0, -0.5]]))               # one near the obstacle, one false
    scores = nav_bench.grid_scores(output, reference, sensor)
    assert scores['recall'] == 1.0
    assert scores['false_obstacles'] == 1 / (reference.free() & nav_bench.within_range(reference.shape, sensor)).sum()


def test_surface_distance_is_exact_for_the_floor_and_box_faces():
    boxes = nav_scenes.room_boxes()
    points = np.array([[1.65, 0.95, 0.3], [1.65, 0.95, 0.05], [0.5, 0.0, 1.0]])
    distance = nav_scenes.surface_distance(points, boxes)
    np.testing.assert_allclose(distance[:2], [0.2, 0.05], atol=1e-9)      # above the 10 cm box; its side
    assert distance[2] > 0.5


def test_quick_run_publishes_frames_and_writes_the_picture(tmp_path):
    table = nav_bench.main(['--quick', '--out', str(tmp_path)])
    assert set(table) == {'depth/points', 'depth/obstacles', 'depth/scan'}
    assert (tmp_path / 'nav_costmap.png').stat().st_size > 1000
    assert table['depth/obstacles']['cloud_kb'] < table['depth/points']['cloud_kb']
    assert 0.0 <= table['depth/scan']['scan_class_agreement'] <= 1.0
