"""The frame store: samples made by the node's own LiDAR rules, checked against the bags' exact ground truth."""
import pickle

from finetune_bags import domain_bag, params_file, without_clouds
import numpy as np
import pytest

from depthmaster_ros.config import Config, load_params_file
from depthmaster_ros.finetune import MANIFEST, FinetuneError, FrameStore, build_frame_store

NOISE = 0.01


@pytest.fixture(scope='module')
def street_bag(tmp_path_factory):
    return domain_bag(tmp_path_factory.mktemp('street') / 'street.mcap', 'street', frames=12, noise=NOISE)


@pytest.fixture(scope='module')
def street_store(street_bag, tmp_path_factory):
    return build_frame_store([street_bag], tmp_path_factory.mktemp('stores') / 'street', Config.from_params({}))


def _config(tmp_path, **parameters):
    return Config.from_params(load_params_file(params_file(tmp_path / 'params.yaml', **parameters)))


def test_the_lidar_samples_agree_with_the_ground_truth_within_the_range_noise(street_store):
    assert len(street_store) == 12 and street_store.manifest['with_ground_truth'] == 12
    errors, bracketed = [], []
    for sample in street_store:
        rows, cols = np.nonzero(np.isfinite(sample.sparse_depth))
        assert len(rows) >= 20
        depth, truth = sample.sparse_depth[rows, cols], sample.dense_depth[rows, cols]
        errors.append(np.abs(depth - truth) / truth)
        # the return lies somewhere in its pixel: the truth of the 3x3 cells around it brackets its depth
        padded = np.pad(sample.dense_depth, 1, constant_values=np.nan)
        around = np.stack([padded[rows + dr, cols + dc] for dr in range(3) for dc in range(3)])
        low, high = np.nanmin(around, axis=0), np.nanmax(around, axis=0)
        bracketed.append((depth >= low * (1 - 4 * NOISE)) & (depth <= high * (1 + 4 * NOISE)))
    errors, bracketed = np.concatenate(errors), np.concatenate(bracketed)
    assert np.median(errors) < 1.5 * NOISE
    assert bracketed.mean() > 0.97


def test_the_occlusion_filter_removes_returns_from_behind_the_surfaces(street_bag, street_store, tmp_path):
    unfiltered = build_frame_store([street_bag], tmp_path / 'unfiltered', _config(tmp_path, occlusion_window_px=0))
    assert unfiltered.manifest['settings']['alignment']['occlusion_window_px'] == 0
    assert street_store.index['occluded'].sum() > 0 and unfiltered.index['occluded'].sum() == 0

    def behind(store):
        far = [(s.sparse_depth > 1.1 * s.dense_depth)[np.isfinite(s.sparse_depth)] for s in store]
        return np.concatenate(far).mean()
    assert unfiltered.index['lidar_samples'].sum() > street_store.index['lidar_samples'].sum()
    assert behind(street_store) < 0.5 * behind(unfiltered)


def test_frames_without_a_usable_cloud_are_skipped_and_counted(street_bag, tmp_path):
    gap = without_clouds(street_bag, tmp_path / 'gap', dropped={4, 5, 6})
    store = build_frame_store([gap], tmp_path / 'store', _config(tmp_path, max_cloud_age_s=0.05))
    entry = store.manifest['inputs'][0]
    assert entry['images'] == 12 and entry['samples'] == 9 and len(store) == 9
    assert entry['skipped'] == {'no_point_cloud': 3} and store.manifest['skipped'] == {'no_point_cloud': 3}
    assert 'point cloud is 0.100 s' in entry['reasons']['no_point_cloud']     # the last one said why
    kept = {int(stamp) for stamp in store.stamps}
    assert len(kept) == 9 and all(sample.stamp_ns in kept for sample in store)

    no_transform = build_frame_store([street_bag], tmp_path / 'no_tf', _config(tmp_path, use_tf='false'))
    assert len(no_transform) == 0 and no_transform.manifest['skipped'] == {'no_lidar_transform': 12}
    assert 'lidar_to_camera is empty' in no_transform.manifest['inputs'][0]['reasons']['no_lidar_transform']


def test_the_store_reads_back_is_reused_and_refuses_a_foreign_folder(street_bag, street_store, tmp_path):
    entry = street_store.manifest['inputs'][0]
    assert entry['name'] == 'street.mcap' and len(entry['sha256']) == 64 and entry['topics']['gt'] == '/camera/depth_gt'
    assert street_store.sources == ('street.mcap',) * 12 and np.all(np.diff(street_store.stamps) == 100_000_000)
    sample = street_store[-1]
    assert sample.image.shape == (72, 96, 3) and sample.image.dtype == np.uint8
    assert sample.sparse_depth.dtype == np.float32 and sample.camera.width == 96
    assert sample.stamp_ns == street_store.stamps[11]
    again = pickle.loads(pickle.dumps(street_store))[11]
    np.testing.assert_array_equal(again.sparse_depth, sample.sparse_depth)
    with pytest.raises(IndexError):
        street_store[12]

    sharded = build_frame_store([street_bag], tmp_path / 'sharded', Config.from_params({}), shard_size=5)
    assert len(sharded.manifest['shards']) == 3
    for position in (11, 0, 6, 5):
        np.testing.assert_array_equal(sharded[position].image, street_store[position].image)
        np.testing.assert_array_equal(sharded[position].sparse_depth, street_store[position].sparse_depth)

    manifest = street_store.directory / MANIFEST
    written = manifest.stat().st_mtime_ns
    reused = build_frame_store([street_bag], street_store.directory, Config.from_params({}))
    assert len(reused) == 12 and manifest.stat().st_mtime_ns == written
    (tmp_path / 'notes').mkdir()
    (tmp_path / 'notes' / 'todo.txt').write_text('mine')
    with pytest.raises(FinetuneError, match='not a frame store'):
        build_frame_store([street_bag], tmp_path / 'notes', Config.from_params({}))
    with pytest.raises(FinetuneError, match='no data_manifest.json'):
        FrameStore(tmp_path)
