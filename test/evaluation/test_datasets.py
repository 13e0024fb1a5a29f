"""The readers on tiny synthetic datasets written in each official layout, as folders and as tar files."""
import numpy as np
import pytest

from depthmaster_ros.evaluation import DatasetOptions, open_dataset
from depthmaster_ros.synthetic import write_layout

TAR_LAYOUTS = ('kitti', 'nyu', 'eth3d', 'scannet', 'diode')


@pytest.mark.parametrize('name', TAR_LAYOUTS)
def test_folder_and_tar_give_the_same_samples(layouts, name):
    folder, archive = open_dataset(name, layouts[name]), open_dataset(name, layouts[f'{name}.tar'])
    assert folder.names() == archive.names() and len(folder.names()) == 2
    for sample_name in folder.names():
        a, b = folder.load(sample_name), archive.load(sample_name)
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.depth_m, b.depth_m)
        np.testing.assert_array_equal(a.mask, b.mask)
        assert a.mask.any() and not a.mask.all() and a.sparse_m is None


def test_kitti_skips_lines_without_ground_truth_and_decodes_by_256(layouts):
    dataset = open_dataset('kitti', layouts['kitti'])
    split = (layouts['kitti'].parent / 'eigen_test_files_with_gt.txt').read_text().splitlines()
    assert len(split) == 3 and len(dataset.names()) == 2
    sample = dataset.load(dataset.names()[0])
    assert sample.rgb.shape == (352, 1216, 3)
    raw = dataset.source.read_png16(split[0].split()[1])
    np.testing.assert_array_equal(sample.depth_m, raw[23:, 13:1229] / np.float32(256.0))
    assert not sample.mask[:117].any() and not sample.mask[:, :43].any()     # Eigen crop


def test_eth3d_infinite_ground_truth_is_invalid(layouts):
    dataset = open_dataset('eth3d', layouts['eth3d.tar'])
    name = dataset.names()[0]
    raw = np.frombuffer(dataset.source.read_bytes(dataset._entries()[name][1]), np.float32)
    sample = dataset.load(name)
    assert np.isinf(raw).any()
    np.testing.assert_array_equal(sample.mask.ravel(), np.isfinite(raw) & (raw > 1e-5))


def test_diode_uses_its_own_mask(layouts):
    dataset = open_dataset('diode', layouts['diode'])
    name = dataset.names()[0]
    mask = np.squeeze(dataset.source.read_npy(dataset._entries()[name][2])).astype(bool)
    np.testing.assert_array_equal(dataset.load(name).mask, mask)


def test_nyu_points_is_the_sparse_benchmark(layouts):
    dataset = open_dataset('nyu', layouts['nyu.tar'], DatasetOptions(points=500, seed=4))
    sample = dataset.load(dataset.names()[1])
    assert dataset.sparse and sample.rgb.shape == (228, 304, 3) and sample.depth_m.shape == (228, 304)
    drawn = np.isfinite(sample.sparse_m)
    assert drawn.sum() == 500 and sample.mask[drawn].all()
    np.testing.assert_array_equal(sample.sparse_m[drawn], sample.depth_m[drawn])
    again = open_dataset('nyu', layouts['nyu'], DatasetOptions(points=500, seed=4)).load(dataset.names()[1])
    np.testing.assert_array_equal(np.isfinite(again.sparse_m), drawn)          # fixed seed, folder or tar
    other = open_dataset('nyu', layouts['nyu'], DatasetOptions(points=500, seed=5)).load(dataset.names()[1])
    assert (np.isfinite(other.sparse_m) != drawn).any()


@pytest.mark.parametrize('points', [150, 500, 1500])
def test_void_densities_and_ranges(layouts, points):
    dataset = open_dataset('void', layouts['void'], DatasetOptions(points=points))
    sample = dataset.load(dataset.names()[0])
    assert dataset.sparse and np.isfinite(sample.sparse_m).sum() == points
    assert [(r.min_depth, r.max_depth) for r in dataset.ranges] == [(0.2, 5.0), (0.0, np.inf)]
    single = open_dataset('void', layouts['void'] / f'void_{points}', DatasetOptions(points=points))
    assert single.names() == [name.removeprefix(f'void_{points}/') for name in dataset.names()]
    with pytest.raises(ValueError, match='150, 500, 1500'):
        open_dataset('void', layouts['void'], DatasetOptions(points=200))


def test_folder_reads_millimetre_pngs_and_sparse_maps(layouts, tmp_path):
    import shutil

    import cv2
    root = tmp_path / 'mine'
    shutil.copytree(layouts['folder'], root)
    depth_npy = root / 'depth' / 'frame_000.npy'
    metres = np.load(depth_npy)
    cv2.imwrite(str(root / 'depth' / 'frame_000.png'), np.nan_to_num(np.round(metres * 1000), nan=0).astype(np.uint16))
    depth_npy.unlink()
    dataset = open_dataset('folder', root, DatasetOptions(min_depth=0.5, max_depth=4.0))
    sample = dataset.load('frame_000')
    np.testing.assert_allclose(sample.depth_m, metres, atol=5e-4)
    assert dataset.sparse and np.isfinite(sample.sparse_m).sum() > 100
    assert (sample.depth_m[sample.mask] > 0.5).all() and (sample.depth_m[sample.mask] < 4.0).all()
    shutil.rmtree(root / 'sparse')
    assert not open_dataset('folder', root).sparse


def test_the_split_list_is_found_beside_the_data_or_given(layouts, tmp_path):
    root = write_layout('scannet', tmp_path, frames=1)
    listed = tmp_path / 'scannet_val_sampled_list_800_1.txt'
    moved = tmp_path / 'elsewhere.txt'
    listed.rename(moved)
    with pytest.raises(ValueError, match='--split'):
        open_dataset('scannet', root).names()
    assert len(open_dataset('scannet', root, DatasetOptions(split=str(moved))).names()) == 1
