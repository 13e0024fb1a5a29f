"""A PNG contact sheet for eyeballing a processed sequence: one row per frame, three panels.

input | metric depth (colourised, scale bar in metres) | absolute error against ground truth (when there
is any). Depth colours share one range across all rows so frames can be compared at a glance.
"""
from collections.abc import Sequence
from dataclasses import dataclass
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import BagError, BagFileError

if TYPE_CHECKING:
    from depthmaster_ros.config import Config

COLUMNS = ('input', 'metric depth [m]', '|depth - GT| [m]')
_TITLE_PX = 48
_ROW_LABEL_PX = 22
_COLORBAR_PX = 70


@dataclass
class SheetRow:
    rgb: np.ndarray                    # (H, W, 3) uint8
    depth_m: np.ndarray | None = None  # (h, w) float32 metres, NaN invalid; any size, shown stretched to the input's
    gt_m: np.ndarray | None = None     # (H, W) float32 metres, NaN invalid
    label: str = ''


def _resize_nearest(array, height, width):
    if array.shape[:2] == (height, width):
        return array
    rows = (np.arange(height) * array.shape[0] / height).astype(int)
    cols = (np.arange(width) * array.shape[1] / width).astype(int)
    return array[rows][:, cols]


def _finite_values(arrays):
    values = [a[np.isfinite(a)] for a in arrays if a is not None]
    values = [v for v in values if v.size]
    return np.concatenate(values) if values else np.zeros(0)


def _range(values, low_pct, high_pct, fallback):
    if values.size == 0:
        return fallback
    low, high = np.percentile(values, [low_pct, high_pct])
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def _validate(rows):
    if not rows:
        raise BagError('rows: a contact sheet needs at least one row')
    for index, row in enumerate(rows):
        rgb = np.asarray(row.rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise BagError(f'rows[{index}].rgb: expected (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}')
        for name in ('depth_m', 'gt_m'):
            value = getattr(row, name)
            if value is not None and np.asarray(value).ndim != 2:
                raise BagError(f'rows[{index}].{name}: expected a 2-D depth image, got shape {np.shape(value)}')


def sheet_layout(rows: Sequence[SheetRow], panel_width_px: int) -> tuple[int, int, int]:
    """Pixel geometry of the sheet: (panel_height_px, sheet_height_px, sheet_width_px)."""
    first = np.asarray(rows[0].rgb)
    panel_height = int(round(panel_width_px * first.shape[0] / first.shape[1]))
    width = len(COLUMNS) * (panel_width_px + _COLORBAR_PX)
    height = _TITLE_PX + len(rows) * (panel_height + _ROW_LABEL_PX)
    return panel_height, height, width


def render_contact_sheet(rows: Sequence[SheetRow], title: str = '', panel_width_px: int = 320,
                         dpi: int = 100) -> np.ndarray:
    """The sheet as an (H, W, 3) uint8 RGB array."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _validate(rows)
    panel_height, height, width = sheet_layout(rows, panel_width_px)
    depth_range = _range(_finite_values([r.depth_m for r in rows] + [r.gt_m for r in rows]), 2, 98, (0.0, 1.0))
    errors = [_abs_error(r, panel_height, panel_width_px) for r in rows]
    error_range = (0.0, _range(_finite_values(errors), 0, 95, (0.0, 1.0))[1])

    depth_cmap = matplotlib.colormaps['turbo'].with_extremes(bad='black')
    error_cmap = matplotlib.colormaps['magma'].with_extremes(bad='#404040')
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor='white')
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 1 - (_TITLE_PX / 2) / height, title, ha='center', va='center', fontsize=12, weight='bold', wrap=True)

    for index, (row, error) in enumerate(zip(rows, errors)):
        top = _TITLE_PX + index * (panel_height + _ROW_LABEL_PX) + _ROW_LABEL_PX
        for column, name in enumerate(COLUMNS):
            left = column * (panel_width_px + _COLORBAR_PX)
            box = (left / width, 1 - (top + panel_height) / height, panel_width_px / width, panel_height / height)
            axes = fig.add_axes(box)
            axes.set_axis_off()
            heading = f'{row.label}  {name}' if column == 0 and row.label else name
            fig.text((left + 2) / width, 1 - (top - _ROW_LABEL_PX / 2) / height, heading, va='center', fontsize=8)
            if column == 0:
                axes.imshow(row.rgb, interpolation='nearest')
                continue
            image = (_resize_nearest(np.asarray(row.depth_m, np.float32), panel_height, panel_width_px)
                     if column == 1 and row.depth_m is not None else error if column == 2 else None)
            if image is None:
                missing = 'no ground truth' if column == 2 and row.gt_m is None else 'no metric depth'
                axes.text(0.5, 0.5, missing,
                          ha='center', va='center', transform=axes.transAxes, fontsize=9)
                continue
            low, high = depth_range if column == 1 else error_range
            shown = axes.imshow(np.ma.masked_invalid(image), cmap=depth_cmap if column == 1 else error_cmap,
                                vmin=low, vmax=high, interpolation='nearest')
            bar_box = ((left + panel_width_px + 6) / width, box[1], 12 / width, box[3])
            bar = fig.colorbar(shown, cax=fig.add_axes(bar_box))
            bar.ax.tick_params(labelsize=7)

    canvas.draw()
    return np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[..., :3])


def _abs_error(row, height, width):
    if row.depth_m is None or row.gt_m is None:
        return None
    depth = _resize_nearest(np.asarray(row.depth_m, np.float32), *np.shape(row.gt_m))
    error = np.abs(depth - np.asarray(row.gt_m, np.float32))
    return _resize_nearest(error, height, width)


def write_contact_sheet(path: str | os.PathLike[str], rows: Sequence[SheetRow], title: str = '',
                        panel_width_px: int = 320) -> tuple[int, int]:
    """Render and write a PNG; returns the written image's (height, width)."""
    import cv2

    sheet = render_contact_sheet(rows, title=title, panel_width_px=panel_width_px)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), sheet[..., ::-1]):
        raise BagFileError(f'could not write the contact sheet to {path}')
    return sheet.shape[:2]


def sheet_positions(estimate: int, rows: int) -> set[int]:
    """Which of about `estimate` selected frames become the sheet's `rows` rows, evenly spread."""
    if rows <= 0:
        return set()
    return {int(round(p)) for p in np.linspace(0, max(0, estimate - 1), min(rows, estimate))}


def sheet_title(label: str, config: 'Config') -> str:
    lines = [label] if label else []
    lines.append(f'{config.model.backend} {config.model.model}  processing_res {config.model.processing_res}  '
                 f'alignment {config.alignment.alignment_mode}')
    return '\n'.join(lines)
