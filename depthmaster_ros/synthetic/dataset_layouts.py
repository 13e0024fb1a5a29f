"""Tiny evaluation datasets in the official layouts, rendered from the synthetic scene.

The real benchmarks cannot be downloaded everywhere, so the evaluation's readers are tested (and
`depthmaster-ros evaluate` can be tried) on a few synthetic frames written exactly as each official
archive stores them: the same paths, depth encodings and split lists, as a folder or a tar file
whose members start with './'. The split list goes beside the data under its official file name,
where the evaluation looks for it. Ground truth is the scene's exact depth, with the holes and
invalid values each format has (zero pixels, infinity, masks) put in on purpose.
"""
from collections.abc import Callable
import io
from pathlib import Path
import tarfile
from typing import Any

import numpy as np

from .errors import SyntheticError

# A frame writer: (index, frame, rng) -> (the files of that frame by relative path, its split-list line).
FrameFiles = tuple[dict[str, bytes], str]
# name -> (frame size (width, height), frame writer); the official split list names come from the readers
LAYOUTS: dict[str, tuple[tuple[int, int], Callable[..., FrameFiles]]] = {}
KITTI_WITHOUT_GT = '2011_09_26/2011_09_26_drive_0001_sync/image_02/data/0000009999.png None 721.5377'


def _layout(name: str, size: tuple[int, int]) -> Callable[[Callable[..., FrameFiles]], Callable[..., FrameFiles]]:
    def decorate(writer: Callable[..., FrameFiles]) -> Callable[..., FrameFiles]:
        LAYOUTS[name] = (size, writer)
        return writer
    return decorate


def _png(image: np.ndarray, suffix: str = '.png') -> bytes:
    import cv2
    if image.ndim == 3:
        image = np.ascontiguousarray(image[..., ::-1])      # RGB -> OpenCV's BGR
    ok, data = cv2.imencode(suffix, image, [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix == '.jpg' else [])
    if not ok:
        raise SyntheticError(f'cannot encode a {image.shape} image as {suffix}')
    return data.tobytes()


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _millimetres(depth: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(depth), np.round(depth * 1000.0), 0).astype(np.uint16)


def _holes(depth: np.ndarray, rng: np.random.Generator, share: float = 0.05) -> np.ndarray:
    """The depth with a share of pixels lost (NaN), as sensors lose them."""
    lost = depth.copy()
    lost[rng.random(depth.shape) < share] = np.nan
    return lost


@_layout('kitti', (1242, 375))
def _kitti(index: int, frame: Any, rng: np.random.Generator) -> FrameFiles:
    rgb = f'2011_09_26/2011_09_26_drive_0001_sync/image_02/data/{index:010d}.png'
    gt = f'2011_09_26_drive_0001_sync/proj_depth/groundtruth/image_02/{index:010d}.png'
    sparse = _holes(frame.depth, rng, share=0.7)          # projected LiDAR: most pixels empty
    depth = np.where(np.isfinite(sparse), np.round(sparse * 256.0), 0).astype(np.uint16)
    return {rgb: _png(frame.rgb), gt: _png(depth)}, f'{rgb} {gt} 721.5377'


@_layout('nyu', (640, 480))
def _nyu(index: int, frame: Any, rng: np.random.Generator) -> FrameFiles:
    stem = f'test/kitchen_0004/{{}}_{index + 1:04d}.png'
    files = {stem.format('rgb'): _png(frame.rgb), stem.format('depth'): _png(_millimetres(_holes(frame.depth, rng))),
             stem.format('filled'): _png(_millimetres(frame.depth))}
    return files, ' '.join(files)


@_layout('eth3d', (96, 64))
def _eth3d(index: int, frame: Any, rng: np.random.Generator) -> FrameFiles:
    rgb = f'rgb/office/images/dslr_images/DSC_{index:04d}.JPG'
    gt = f'depth/office_dslr_depth/office/ground_truth_depth/dslr_images/DSC_{index:04d}.JPG'
    depth = np.where(np.isfinite(_holes(frame.depth, rng)), frame.depth, np.inf).astype(np.float32)
    # raw float32, row-major, infinity where there is no measurement
    return {rgb: _png(frame.rgb, '.jpg'), gt: depth.tobytes()}, f'{rgb} {gt}'


@_layout('scannet', (128, 96))
def _scannet(index: int, frame: Any, rng: np.random.Generator) -> FrameFiles:
    rgb, gt = f'scene0001_00/color/{index * 100:06d}.jpg', f'scene0001_00/depth/{index * 100:06d}.png'
    return {rgb: _png(frame.rgb, '.jpg'), gt: _png(_millimetres(_holes(frame.depth, rng)))}, f'{rgb} {gt}'


@_layout('diode', (96, 72))
def _diode(index: int, frame: Any, rng: np.random.Generator) -> FrameFiles:
    stem = f'indoors/scene_00001/scan_00001/00001_00001_indoors_{index:03d}_000'
    valid = np.isfinite(_holes(frame.depth, rng))
    files = {f'{stem}.png': _png(frame.rgb),
             f'{stem}_depth.npy': _npy(np.where(valid, frame.depth, 0).astype(np.float32)[..., None]),
             f'{stem}_depth_mask.npy': _npy(valid.astype(np.float32))}
    return files, ' '.join(files)


def layout_names() -> tuple[str, ...]:
    return (*LAYOUTS, 'void', 'folder')


def write_layout(name: str, directory: str | Path, frames: int = 3, tar: bool = False, seed: int = 0,
                 size: tuple[int, int] | None = None) -> Path:
    """Write `frames` synthetic images of dataset `name` under directory; returns the PATH to evaluate.

    kitti, nyu, eth3d, scannet, diode: the official archive (tar=True: `<name>.tar`) plus its split
    list beside it; void: the release folder with void_150/500/1500; folder: rgb/, depth/, sparse/.
    size (width, height) replaces the layout's own frame size where the format allows it.
    """
    from depthmaster_ros.evaluation import dataset_class
    from depthmaster_ros.synthetic.scene import SyntheticScene

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    writers: dict[str, tuple[tuple[int, int], Callable[..., Any]]] = {
        **LAYOUTS, 'void': ((96, 72), _void), 'folder': ((96, 72), _folder)}
    if name not in writers:
        raise SyntheticError(f'layout: expected one of {", ".join(layout_names())}, got {name!r}')
    default_size, writer = writers[name]
    width, height = size or default_size
    scene = SyntheticScene(width=width, height=height, seed=seed)
    rendered = [scene.render(1.3 * index) for index in range(int(frames))]
    rng = np.random.default_rng(seed)
    if name in ('void', 'folder'):
        root = directory / name
        writer(root, rendered, rng)
        return root
    files: dict[str, bytes] = {}
    lines = []
    for index, frame in enumerate(rendered):
        frame_files, line = writer(index, frame, rng)
        files.update(frame_files)
        lines.append(line)
    if name == 'kitti':
        lines.append(KITTI_WITHOUT_GT)        # the official list has lines without ground truth; they are skipped
    split_name = Path(dataset_class(name).split_file).name
    (directory / split_name).write_text('\n'.join(lines) + '\n')
    if tar:
        root = directory / f'{name}.tar'
        with tarfile.open(root, 'w') as archive:
            for relative, data in files.items():
                info = tarfile.TarInfo(f'./{relative}')
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
        return root
    root = directory / name
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def _void(root: Path, frames: list, rng: np.random.Generator) -> None:
    """The VOID release folder: sparse points drawn from the ground truth at each density."""
    for density in (150, 500, 1500):
        lists: dict[str, list[str]] = {'image': [], 'sparse_depth': [], 'ground_truth': []}
        for index, frame in enumerate(frames):
            depth = np.where(np.isfinite(frame.depth), frame.depth, 0.0)
            sparse = np.zeros_like(depth)
            chosen = rng.choice(np.flatnonzero(depth > 0), size=min(density, int((depth > 0).sum())), replace=False)
            sparse.ravel()[chosen] = depth.ravel()[chosen]
            images = {'image': frame.rgb, 'sparse_depth': np.round(sparse * 256).astype(np.uint16),
                      'ground_truth': np.round(depth * 256).astype(np.uint16)}
            for kind, image in images.items():
                relative = f'data/room/{kind}/{1552000000 + index}.png'
                path = root / f'void_{density}' / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(_png(image))
                lists[kind].append(f'data/void_{density}/{relative}')      # as the release lists prefix them
        for kind, paths in lists.items():
            (root / f'void_{density}' / f'test_{kind}.txt').write_text('\n'.join(paths) + '\n')


def _folder(root: Path, frames: list, rng: np.random.Generator) -> None:
    """rgb/NAME.png, depth/NAME.npy (metres, NaN holes) and sparse/NAME.npy (the projected LiDAR)."""
    from depthmaster_ros.synthetic.evaluation import lidar_sparse_depth
    for kind in ('rgb', 'depth', 'sparse'):
        (root / kind).mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        name = f'frame_{index:03d}'
        (root / 'rgb' / f'{name}.png').write_bytes(_png(frame.rgb))
        np.save(root / 'depth' / f'{name}.npy', _holes(frame.depth, rng).astype(np.float32))
        sparse = lidar_sparse_depth(frame, occlusion_window=15).depth
        np.save(root / 'sparse' / f'{name}.npy', np.nan_to_num(sparse, nan=0.0).astype(np.float32))
