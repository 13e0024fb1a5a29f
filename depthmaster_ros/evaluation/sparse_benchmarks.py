"""VOID, the sparse-depth benchmark of visual-inertial odometry points, in its release layout.

PATH is the release folder (holding void_150, void_500, void_1500) or one density's folder. The
test set is the density's `test_image.txt`, `test_sparse_depth.txt` and `test_ground_truth.txt`
(800 lines each, one file per line; a path is read from the density folder onwards, whatever prefix
the list gives it). Depth PNGs are uint16 / 256 metres, 0 = none. Published numbers are quoted
at 0.2-5.0 m and over the whole range; they differ about threefold, so both are reported.
"""
import numpy as np

from .datasets import Dataset, DatasetOptions, DepthRange, Sample, register, without_suffix
from .errors import EvaluationError
from .sources import DataSource

VOID_DENSITIES = (150, 500, 1500)


@register('void', 'VOID test set (800 images) with its 150/500/1500 point maps (--points), 0.2-5 m and all')
class Void(Dataset):
    official_count = 800

    def __init__(self, source: DataSource, options: DatasetOptions):
        super().__init__(source, options)
        points = 150 if options.points is None else int(options.points)
        if points not in VOID_DENSITIES:
            raise EvaluationError(f'--points: VOID has {VOID_DENSITIES} point maps, got {points}')
        self.density = f'void_{points}'
        self.prefix = '' if source.root.name == self.density else f'{self.density}/'
        lists = [self._list(kind) for kind in ('image', 'sparse_depth', 'ground_truth')]
        if len({len(paths) for paths in lists}) != 1:
            raise EvaluationError(f'void: the test lists of {self.density} differ in length: {[len(p) for p in lists]}')
        self._by_name = {without_suffix(image): (image, sparse, gt) for image, sparse, gt in zip(*lists)}

    @property
    def sparse(self) -> bool:
        return True

    @property
    def ranges(self) -> tuple[DepthRange, ...]:
        return DepthRange('0.2-5.0 m', 0.2, 5.0), DepthRange('all', 0.0, np.inf)

    def _list(self, kind: str) -> list[str]:
        relative = f'{self.prefix}test_{kind}.txt'
        if not self.source.exists(relative):
            raise EvaluationError(f'void: {relative} is not in {self.source.root}')
        return [self._in_density(line.strip()) for line in self.source.read_bytes(relative).decode().splitlines()
                if line.strip()]

    def _in_density(self, listed: str) -> str:
        marker = f'{self.density}/'
        rest = listed.split(marker, 1)[1] if marker in listed else listed
        return self.prefix + rest

    def names(self) -> list[str]:
        return list(self._by_name)

    def load(self, name: str) -> Sample:
        image, sparse_path, gt_path = self._by_name[name]
        rgb = self.source.read_rgb(image)
        depth = self.source.read_png16(gt_path).astype(np.float32) / 256.0
        sparse = self.source.read_png16(sparse_path).astype(np.float32) / 256.0
        sparse[sparse <= 0] = np.nan
        return Sample(name, rgb, depth, self.ranges[1].mask(depth), sparse)
