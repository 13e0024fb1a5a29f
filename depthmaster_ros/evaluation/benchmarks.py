"""The five zero-shot benchmarks of the published tables, read in the layouts their evaluation code reads.

Each root is the extracted folder or the tar file itself; the split list is the official one (its
name below), found inside the data, beside it, or given with --split. Depth decoding, ranges, crops
and masks are the published ones:

| name | images | ground truth | range (m) | mask |
|---|---|---|---|---|
| kitti | 652 (Eigen test lines with ground truth) | uint16 PNG / 256 | 1e-5..80 | 352x1216 benchmark crop + Eigen crop |
| nyu | 654 | uint16 PNG / 1000 (raw, not filled) | 1e-3..10 | Eigen crop rows 45:471, columns 41:601 |
| eth3d | 454 | raw float32, image size; infinite is invalid | 1e-5..inf | range only |
| scannet | 800 | uint16 PNG / 1000 | 1e-3..10 | range only |
| diode | 771 | .npy metres | 0.6..350 | the dataset's own mask |

`nyu --points N` is the sparse-depth benchmark instead: image and filled depth resized to 320x240,
centre-cropped to 304x228, N ground-truth pixels drawn with a fixed seed as the sparse samples.
"""
import numpy as np

from .datasets import Dataset, DepthRange, Sample, read_split, register, without_suffix
from .errors import EvaluationError

KITTI_CROP = (352, 1216)
# The Eigen crop as shares of the benchmark-cropped image (rows, then columns).
KITTI_EIGEN_ROWS = (0.3324324, 0.91351351)
KITTI_EIGEN_COLS = (0.0359477, 0.96405229)
NYU_EIGEN_CROP = (slice(45, 471), slice(41, 601))
NYU_SPARSE_SIZE = (240, 320)
NYU_SPARSE_CROP = (228, 304)


def kitti_benchmark_crop(image: np.ndarray) -> np.ndarray:
    """The bottom 352 rows and the centred 1216 columns (KITTI's benchmark size)."""
    height, width = image.shape[:2]
    top, left = height - KITTI_CROP[0], (width - KITTI_CROP[1]) // 2
    if top < 0 or left < 0:
        raise EvaluationError(f'kitti: image {width}x{height} is smaller than the {KITTI_CROP[1]}x{KITTI_CROP[0]} crop')
    return image[top:top + KITTI_CROP[0], left:left + KITTI_CROP[1]]


def kitti_eigen_mask(shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    mask = np.zeros(shape, bool)
    mask[int(KITTI_EIGEN_ROWS[0] * height):int(KITTI_EIGEN_ROWS[1] * height),
         int(KITTI_EIGEN_COLS[0] * width):int(KITTI_EIGEN_COLS[1] * width)] = True
    return mask


def nyu_eigen_mask(shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[NYU_EIGEN_CROP] = True
    return mask


class _SplitDataset(Dataset):
    """A dataset whose split list's first column is the RGB path; the other columns stay per name."""
    range = DepthRange('', 0.0, np.inf)

    @property
    def ranges(self) -> tuple[DepthRange, ...]:
        return (self.range,)

    def names(self) -> list[str]:
        return list(self._entries())

    def _entries(self) -> dict[str, list[str]]:
        if not hasattr(self, '_by_name'):
            lines = [fields for fields in read_split(self.source, self.options, self.split_file) if self._keep(fields)]
            self._by_name = {without_suffix(fields[0]): fields for fields in lines}
        return self._by_name

    def _keep(self, fields: list[str]) -> bool:
        return len(fields) >= 2

    def load(self, name: str) -> Sample:
        fields = self._entries()[name]
        rgb = self.source.read_rgb(fields[0])
        depth = self._depth(fields).astype(np.float32)
        if depth.shape != rgb.shape[:2]:
            raise EvaluationError(f'{self.name}: {fields[1]} is {depth.shape[1]}x{depth.shape[0]} but the image is '
                                  f'{rgb.shape[1]}x{rgb.shape[0]}')
        return Sample(name, rgb, depth, self._mask(fields, depth))

    def _depth(self, fields: list[str]) -> np.ndarray:
        raise NotImplementedError

    def _mask(self, fields: list[str], depth: np.ndarray) -> np.ndarray:
        return self.range.mask(depth)


@register('kitti', 'KITTI Eigen test split (652 images), benchmark crop, Eigen crop, 1e-5..80 m')
class Kitti(_SplitDataset):
    official_count = 652
    split_file = 'data_split/kitti_depth/eigen_test_files_with_gt.txt'
    range = DepthRange('1e-5-80 m', 1e-5, 80.0)

    def _keep(self, fields: list[str]) -> bool:
        return len(fields) >= 2 and fields[1] != 'None'

    def load(self, name: str) -> Sample:
        fields = self._entries()[name]
        rgb = kitti_benchmark_crop(self.source.read_rgb(fields[0]))
        depth = kitti_benchmark_crop(self.source.read_png16(fields[1])).astype(np.float32) / 256.0
        return Sample(name, np.ascontiguousarray(rgb), depth, self.range.mask(depth) & kitti_eigen_mask(depth.shape))


@register('nyu', 'NYUv2 test split (654 images), Eigen crop, 1e-3..10 m; with --points N the sparse benchmark')
class Nyu(_SplitDataset):
    official_count = 654
    split_file = 'data_split/nyu_depth/labeled/filename_list_test.txt'
    range = DepthRange('1e-3-10 m', 1e-3, 10.0)

    @property
    def sparse(self) -> bool:
        return self.options.points is not None

    def _depth(self, fields: list[str]) -> np.ndarray:
        return self.source.read_png16(fields[1]) / 1000.0

    def _mask(self, fields: list[str], depth: np.ndarray) -> np.ndarray:
        return self.range.mask(depth) & nyu_eigen_mask(depth.shape)

    def load(self, name: str) -> Sample:
        if not self.sparse:
            return super().load(name)
        fields = self._entries()[name]
        if len(fields) < 3:
            raise EvaluationError(f'nyu --points: the split line of {name} names no filled depth (third column)')
        import cv2
        height, width = NYU_SPARSE_SIZE
        rgb = cv2.resize(self.source.read_rgb(fields[0]), (width, height), interpolation=cv2.INTER_AREA)
        filled = (self.source.read_png16(fields[2]) / 1000.0).astype(np.float32)
        depth = cv2.resize(filled, (width, height), interpolation=cv2.INTER_AREA)
        rgb, depth = centre_crop(rgb, NYU_SPARSE_CROP), centre_crop(depth, NYU_SPARSE_CROP)
        mask = self.range.mask(depth)
        return Sample(name, np.ascontiguousarray(rgb), np.ascontiguousarray(depth), mask,
                      draw_sparse(depth, mask, int(self.options.points or 0),
                                  [self.options.seed, self.names().index(name)]))


def centre_crop(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    height, width = image.shape[:2]
    top, left = (height - size[0]) // 2, (width - size[1]) // 2
    return image[top:top + size[0], left:left + size[1]]


def draw_sparse(depth: np.ndarray, mask: np.ndarray, count: int, seed: list[int]) -> np.ndarray:
    """`count` pixels of the mask chosen at random (seeded per image), the rest NaN."""
    candidates = np.flatnonzero(mask)
    chosen = np.random.default_rng(seed).permutation(candidates)[:count]
    sparse = np.full(depth.shape, np.nan, np.float32)
    sparse.ravel()[chosen] = depth.ravel()[chosen]
    return sparse


@register('eth3d', 'ETH3D (454 images), 1e-5 m..inf, infinite ground truth invalid')
class Eth3d(_SplitDataset):
    official_count = 454
    split_file = 'data_split/eth3d_depth/eth3d_filename_list.txt'
    range = DepthRange('1e-5 m-inf', 1e-5, np.inf)

    def load(self, name: str) -> Sample:
        fields = self._entries()[name]
        rgb = self.source.read_rgb(fields[0])
        raw = np.frombuffer(self.source.read_bytes(fields[1]), np.float32)
        if raw.size != rgb.shape[0] * rgb.shape[1]:
            raise EvaluationError(f'eth3d: {fields[1]} holds {raw.size} values, the image has '
                                  f'{rgb.shape[0] * rgb.shape[1]} pixels')
        depth = np.where(np.isinf(raw), 0.0, raw).astype(np.float32).reshape(rgb.shape[:2])
        return Sample(name, rgb, depth, self.range.mask(depth))


@register('scannet', 'ScanNet validation sample (800 images), 1e-3..10 m')
class Scannet(_SplitDataset):
    official_count = 800
    split_file = 'data_split/scannet_depth/scannet_val_sampled_list_800_1.txt'
    range = DepthRange('1e-3-10 m', 1e-3, 10.0)

    def _depth(self, fields: list[str]) -> np.ndarray:
        return self.source.read_png16(fields[1]) / 1000.0


@register('diode', 'DIODE validation (771 images), 0.6..350 m, the dataset\'s masks')
class Diode(_SplitDataset):
    official_count = 771
    split_file = 'data_split/diode_depth/diode_val_all_filename_list.txt'
    range = DepthRange('0.6-350 m', 0.6, 350.0)

    def _keep(self, fields: list[str]) -> bool:
        return len(fields) >= 3

    def _depth(self, fields: list[str]) -> np.ndarray:
        return np.squeeze(self.source.read_npy(fields[1]))

    def _mask(self, fields: list[str], depth: np.ndarray) -> np.ndarray:
        """The dataset's mask as the published evaluation uses it (no range test), where depth is positive."""
        mask = np.squeeze(self.source.read_npy(fields[2])).astype(bool)
        with np.errstate(invalid='ignore'):
            return mask & np.isfinite(depth) & (depth > 0)
