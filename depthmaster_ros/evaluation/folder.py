"""Any folder of images with ground truth: `--dataset folder PATH`.

PATH/rgb/NAME.png (or .jpg), PATH/depth/NAME.npy (float32 metres, 0 or NaN invalid) or
PATH/depth/NAME.png (uint16 millimetres, 0 invalid), and optionally PATH/sparse/NAME.npy (float32
metres, 0 or NaN where there is no sample). With a sparse folder the images are scored in metres
with the project's alignment; without one, with the zero-shot protocol. The range is
--min-depth..--max-depth (default 1e-3 m..inf).
"""
from pathlib import Path

import numpy as np

from .datasets import Dataset, DatasetOptions, DepthRange, Sample, register
from .errors import EvaluationError
from .sources import DataSource

RGB_SUFFIXES = ('.png', '.jpg', '.jpeg')


@register('folder', 'PATH/rgb/NAME.png, PATH/depth/NAME.npy|.png, optional PATH/sparse/NAME.npy')
class Folder(Dataset):

    def __init__(self, source: DataSource, options: DatasetOptions):
        super().__init__(source, options)
        if source.is_tar:
            raise EvaluationError('folder: PATH must be a directory')
        rgb_dir = source.root / 'rgb'
        if not rgb_dir.is_dir():
            raise EvaluationError(f'folder: {rgb_dir} does not exist')
        self._images = {path.stem: path for path in sorted(rgb_dir.iterdir()) if path.suffix.lower() in RGB_SUFFIXES}
        if not self._images:
            raise EvaluationError(f'folder: no .png or .jpg image in {rgb_dir}')
        low = 1e-3 if options.min_depth is None else float(options.min_depth)
        high = np.inf if options.max_depth is None else float(options.max_depth)
        if not 0 <= low < high:
            raise EvaluationError(f'--min-depth/--max-depth: need 0 <= min < max, got {low}, {high}')
        self._range = DepthRange(f'{low:g}-{high:g} m', low, high)

    @property
    def sparse(self) -> bool:
        return (self.source.root / 'sparse').is_dir()

    @property
    def ranges(self) -> tuple[DepthRange, ...]:
        return (self._range,)

    def names(self) -> list[str]:
        return list(self._images)

    def load(self, name: str) -> Sample:
        root = self.source.root
        rgb = self.source.read_rgb(str(self._images[name].relative_to(root)))
        depth = _depth(root, name)
        if depth.shape != rgb.shape[:2]:
            raise EvaluationError(f'folder: depth of {name} is {depth.shape[1]}x{depth.shape[0]}, '
                                  f'the image {rgb.shape[1]}x{rgb.shape[0]}')
        sparse = None
        if self.sparse:
            sparse = np.load(root / 'sparse' / f'{name}.npy').astype(np.float32)
            with np.errstate(invalid='ignore'):
                sparse[~(sparse > 0)] = np.nan
        return Sample(name, rgb, depth, self._range.mask(depth), sparse)


def _depth(root: Path, name: str) -> np.ndarray:
    npy, png = root / 'depth' / f'{name}.npy', root / 'depth' / f'{name}.png'
    if npy.is_file():
        depth = np.load(npy).astype(np.float32)
    elif png.is_file():
        import cv2
        millimetres = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        if millimetres is None or millimetres.ndim != 2:
            raise EvaluationError(f'folder: {png} is not a single-channel 16-bit PNG')
        depth = millimetres.astype(np.float32) / 1000.0
    else:
        raise EvaluationError(f'folder: no depth/{name}.npy or depth/{name}.png')
    with np.errstate(invalid='ignore'):
        depth[~(depth > 0)] = np.nan
    return depth
