"""Contact sheet (PNG written, layout sizes, panels hold the right pictures) and depth metrics."""
import cv2
import numpy as np
import pytest

from depthmaster_ros.bag import SheetRow, render_contact_sheet, sheet_layout, write_contact_sheet
from depthmaster_ros.geometry import DELTA1_THRESHOLD, depth_errors, mean_errors


def _rgb(height, width, seed):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _ramp(height, width, near=1.0, far=6.0):
    return np.tile(np.linspace(near, far, width, dtype=np.float32), (height, 1))


def test_sheet_png_has_the_layout_size_and_one_band_per_row(tmp_path):
    gt = _ramp(60, 80)
    rows = [SheetRow(_rgb(60, 80, i), depth_m=gt * 1.1, gt_m=gt, label=f'frame {i}') for i in range(3)]
    path = tmp_path / 'sheet' / 'contact.png'
    shape = write_contact_sheet(path, rows, title='test', panel_width_px=160)
    written = cv2.imread(str(path))
    assert written is not None
    assert written.shape[:2] == shape
    panel_height, height, width = sheet_layout(rows, 160)
    assert shape == (height, width)
    assert panel_height == 120            # aspect of the 80x60 input kept
    heights = [render_contact_sheet(rows[:n], panel_width_px=160).shape[0] for n in (1, 2)] + [height]
    assert heights[1] - heights[0] == heights[2] - heights[1] > panel_height   # each row adds one band


def test_input_panel_shows_the_input_image():
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, :40] = (255, 0, 0)
    rgb[:, 40:] = (0, 0, 255)
    sheet = render_contact_sheet([SheetRow(rgb)], panel_width_px=160)
    panel_height, height, _ = sheet_layout([SheetRow(rgb)], 160)
    top = height - panel_height
    left_half = sheet[top + 10:top + panel_height - 10, 10:70].reshape(-1, 3)
    right_half = sheet[top + 10:top + panel_height - 10, 90:150].reshape(-1, 3)
    assert np.all(left_half[:, 0] > 200) and np.all(left_half[:, 2] < 50)
    assert np.all(right_half[:, 2] > 200) and np.all(right_half[:, 0] < 50)


def test_depth_panel_is_coloured_and_missing_panels_are_blank():
    gt = _ramp(30, 40)
    with_depth = render_contact_sheet([SheetRow(_rgb(30, 40, 0), depth_m=gt)], panel_width_px=120)
    without = render_contact_sheet([SheetRow(_rgb(30, 40, 0))], panel_width_px=120)
    panel_height, height, _ = sheet_layout([SheetRow(_rgb(30, 40, 0))], 120)
    top, left = height - panel_height, 120 + 70
    depth_panel = with_depth[top + 5:top + panel_height - 5, left + 5:left + 115].astype(int)
    blank_panel = without[top + 5:top + panel_height - 5, left + 5:left + 115].astype(int)
    assert np.ptp(depth_panel, axis=(0, 1)).max() > 100     # a colour ramp
    assert (blank_panel > 200).mean() > 0.9                  # white apart from the "no metric depth" note


def test_bad_rows_raise_value_error_naming_the_field():
    with pytest.raises(ValueError, match='rows'):
        render_contact_sheet([])
    with pytest.raises(ValueError, match=r'rows\[0\]\.rgb'):
        render_contact_sheet([SheetRow(np.zeros((4, 4), np.uint8))])
    with pytest.raises(ValueError, match=r'rows\[0\]\.depth_m'):
        render_contact_sheet([SheetRow(_rgb(4, 4, 0), depth_m=np.zeros((4, 4, 2)))])


def test_abs_rel_and_delta1_on_known_arrays():
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    pred = np.array([[1.1, 2.0], [2.0, 8.0]])        # +10 %, exact, -50 %, exact
    errors = depth_errors(pred, gt)
    assert errors.abs_rel == pytest.approx((0.1 + 0.0 + 0.5 + 0.0) / 4)
    assert errors.delta1 == pytest.approx(3 / 4)      # only the halved pixel is off by 2x > 1.25
    assert errors.rmse_m == pytest.approx(np.sqrt((0.01 + 4.0) / 4))
    assert errors.num_valid == 4 and errors.coverage == 1.0


def test_delta1_threshold_is_strict_and_symmetric():
    gt = np.full((1, 4), 2.0)
    pred = np.array([[2.0 * DELTA1_THRESHOLD * 0.999, 2.0 / (DELTA1_THRESHOLD * 0.999),
                      2.0 * DELTA1_THRESHOLD * 1.001, 2.0 / (DELTA1_THRESHOLD * 1.001)]])
    assert depth_errors(pred, gt).delta1 == pytest.approx(0.5)


def test_invalid_pixels_are_excluded_and_coverage_reported():
    gt = np.array([[1.0, 2.0, np.nan, 0.0]])
    pred = np.array([[1.0, np.nan, 3.0, 5.0]])
    errors = depth_errors(pred, gt)
    assert errors.num_valid == 1 and errors.abs_rel == 0.0
    assert errors.coverage == pytest.approx(1 / 2)    # 2 valid GT pixels, one predicted
    nothing = depth_errors(np.full((2, 2), np.nan), np.ones((2, 2)))
    assert nothing.num_valid == 0 and np.isnan(nothing.abs_rel)


def test_mean_errors_weighs_frames_equally():
    gt = np.ones((2, 2))
    frames = [depth_errors(gt * 1.2, gt), depth_errors(gt, gt)]
    mean = mean_errors(frames)
    assert mean['abs_rel'] == pytest.approx(0.1) and mean['delta1'] == pytest.approx(1.0)
    assert mean['frames'] == 2
    assert mean_errors([]) is None


def test_metrics_reject_mismatched_inputs():
    with pytest.raises(ValueError, match='pred_m'):
        depth_errors(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match='gt_m'):
        depth_errors(np.ones((2, 2)), np.ones(4))
