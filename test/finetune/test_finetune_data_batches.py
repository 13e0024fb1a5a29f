"""Split, augmentation and batches of the fine-tuning data: no neighbours across the split, an exact flip,
batches that are a function of the step, and rank shards that reassemble the global batch."""
from dataclasses import replace

from finetune_bags import domain_bag
import numpy as np
import pytest

from depthmaster_ros.config import Config
from depthmaster_ros.finetune import (
    Augmentation,
    FinetuneError,
    TrainingBatches,
    build_frame_store,
    colour_jitter,
    flip_camera,
    flip_sample,
    processing_grid,
    split_frames,
)
from depthmaster_ros.geometry import CameraModel

FRAMES = 24


@pytest.fixture(scope='module')
def one_bag(tmp_path_factory):
    folder = tmp_path_factory.mktemp('one_bag')
    bag = domain_bag(folder / 'drive.mcap', 'street', frames=FRAMES)
    return build_frame_store([bag], folder / 'store', Config.from_params({}))


@pytest.fixture(scope='module')
def three_bags(tmp_path_factory):
    folder = tmp_path_factory.mktemp('three_bags')
    bags = [domain_bag(folder / 'street_a.mcap', 'street', frames=6, seed=1),
            domain_bag(folder / 'street_b.mcap', 'street', frames=6, seed=2),
            domain_bag(folder / 'room.mcap', 'room', frames=6, width=64, height=48)]
    return build_frame_store(bags, folder / 'store', Config.from_params({}))


def _sides(store, split):
    side = np.full(len(store), 'none', dtype=object)
    side[split.train], side[split.val] = 'train', 'val'
    return side


def test_one_recording_splits_in_time_blocks_with_a_guard(one_bag):
    split = split_frames(one_bag, val_share=0.25, block_s=0.3, guard_s=0.15, seed=3)
    assert split.rule == 'blocks' and len(split.val) >= 2 and len(split.train) >= 8
    assert not set(split.train) & set(split.val) and not set(split.guard) & (set(split.train) | set(split.val))
    order = np.argsort(one_bag.stamps)
    side = _sides(one_bag, split)[order]
    assert not any({a, b} == {'train', 'val'} for a, b in zip(side[:-1], side[1:]))      # never neighbours
    gaps = np.abs(one_bag.stamps[split.train][:, None] - one_bag.stamps[split.val][None, :]) * 1e-9
    assert gaps.min() > 0.15
    again = split_frames(one_bag, val_share=0.25, block_s=0.3, guard_s=0.15, seed=3)
    np.testing.assert_array_equal(again.val, split.val)
    with pytest.raises(FinetuneError, match='nothing to train on'):
        split_frames(one_bag, val_share=0.5, guard_s=5.0)


def test_several_recordings_split_by_whole_bags(three_bags):
    sources = np.asarray(three_bags.sources)
    split = split_frames(three_bags, val_share=0.2)
    assert split.rule == 'bags'
    val_bags, train_bags = set(sources[split.val]), set(sources[split.train])
    assert val_bags and train_bags and not val_bags & train_bags
    assert len(split.train) + len(split.val) == len(three_bags)
    named = split_frames(three_bags, val_inputs=['room.mcap'])
    assert named.rule == 'inputs' and set(sources[named.val]) == {'room.mcap'} and len(named.val) == 6
    by_path = split_frames(three_bags, val_inputs=[three_bags.manifest['inputs'][0]['path']])
    assert set(sources[by_path.val]) == {three_bags.manifest['inputs'][0]['name']}
    folder = three_bags.directory.parent
    by_glob = split_frames(three_bags, val_inputs=[str(folder / 'street_*.mcap')])      # as INPUTS are given
    assert set(sources[by_glob.val]) == {'street_a.mcap', 'street_b.mcap'}
    with pytest.raises(FinetuneError, match='not among the bags'):
        split_frames(three_bags, val_inputs=['elsewhere.mcap'])
    (folder / 'other.mcap').write_bytes(b'')
    with pytest.raises(FinetuneError, match='not among the bags'):
        split_frames(three_bags, val_inputs=[str(folder / 'other.mcap')])


def _distorted(camera):
    K = camera.K.copy()
    K[0, 1] = 0.4                                              # a little skew, so its sign is tested too
    return CameraModel(camera.width, camera.height, K, (-0.08, 0.02, 0.003, -0.004, 0.001), 'plumb_bob', None, None)


def test_flip_twice_is_the_identity(one_bag):
    sample = replace(one_bag[5], camera=_distorted(one_bag[5].camera))
    twice = flip_sample(flip_sample(sample))
    for name in ('image', 'sparse_depth', 'dense_depth'):
        np.testing.assert_array_equal(getattr(twice, name), getattr(sample, name))
    for name in ('K', 'D', 'P', 'R'):
        np.testing.assert_array_equal(getattr(twice.camera, name), getattr(sample.camera, name))
    assert flip_camera(sample.camera).cx == pytest.approx(sample.camera.width - 1 - sample.camera.cx)


@pytest.mark.parametrize('distorted', [False, True])
def test_flipped_intrinsics_back_project_the_flipped_depth_to_the_mirrored_points(one_bag, distorted):
    sample = one_bag[7]
    if distorted:
        sample = replace(sample, camera=_distorted(sample.camera))
    flipped = flip_sample(sample)
    rows, cols = np.nonzero(np.isfinite(flipped.sparse_depth))
    rays = flipped.camera.pixel_rays()[rows, cols]
    points = np.column_stack([rays, np.ones(len(rays))]) * flipped.sparse_depth[rows, cols][:, None]
    mirrored = points * [-1.0, 1.0, 1.0]                        # the same points in the unflipped scene
    uv, valid = sample.camera.project(mirrored)
    assert valid.all()
    np.testing.assert_allclose(uv[:, 0], sample.camera.width - 1 - cols, atol=1e-3)
    np.testing.assert_allclose(uv[:, 1], rows, atol=1e-3)
    np.testing.assert_array_equal(sample.sparse_depth[rows, sample.camera.width - 1 - cols],
                                  flipped.sparse_depth[rows, cols])


def test_colour_jitter_changes_colour_only(one_bag):
    sample = one_bag[0]
    np.testing.assert_array_equal(colour_jitter(sample.image, 1.0, 1.0, 1.0), sample.image)
    assert colour_jitter(sample.image, 1.1, 1.0, 1.0).mean() > sample.image.mean() + 5
    assert colour_jitter(sample.image, 1.0, 1.0, 0.0).std(axis=2).max() <= 1         # no saturation: grey
    jittered, flipped = Augmentation(flip=0.0).apply(sample, np.random.default_rng(0))
    assert not flipped and not np.array_equal(jittered.image, sample.image)
    np.testing.assert_array_equal(jittered.sparse_depth, sample.sparse_depth)
    with pytest.raises(FinetuneError):
        Augmentation(flip=1.5)


def _assert_same(a, b):
    for name in ('images', 'sparse', 'dense', 'flipped', 'positions'):
        np.testing.assert_array_equal(getattr(a, name).numpy(), getattr(b, name).numpy())


def test_batch_at_is_a_function_of_the_step(one_bag):
    indices = np.arange(len(one_bag))
    batches = TrainingBatches(one_bag, indices, res=64, batch=4, seed=7)
    batch = batches.batch_at(9)
    assert batch.images.shape == (4, 48, 64, 3) and str(batch.images.dtype) == 'torch.uint8'
    assert batch.sparse.shape == (4, 48, 64) and batch.dense.shape == (4, 48, 64)
    resumed = TrainingBatches(one_bag, indices, res=64, batch=4, seed=7)
    _assert_same(resumed.batch_at(9), batch)
    assert not np.array_equal(batches.batch_at(10).positions.numpy(), batch.positions.numpy())
    epoch = np.concatenate([batches.batch_at(step).positions.numpy() for step in range(batches.steps_per_epoch)])
    assert sorted(epoch) == list(indices)                          # every sample once per epoch
    assert batches.batch_at(0).flipped.any() or batches.batch_at(1).flipped.any()
    other_seed = TrainingBatches(one_bag, indices, res=64, batch=4, seed=8).batch_at(9)
    assert not np.array_equal(other_seed.images.numpy(), batch.images.numpy())


def test_rank_shards_reassemble_the_global_batch(one_bag):
    indices = np.arange(len(one_bag))
    single = TrainingBatches(one_bag, indices, res=64, batch=6, seed=1)
    half = TrainingBatches(one_bag, indices, res=64, batch=3, seed=1)
    for step in (0, 5):
        whole = single.batch_at(step)
        shards = [half.for_rank(rank, 2).batch_at(step) for rank in (0, 1)]
        for name in ('images', 'sparse', 'dense', 'flipped', 'positions'):
            interleaved = np.empty_like(getattr(whole, name).numpy())
            interleaved[0::2], interleaved[1::2] = (getattr(shard, name).numpy() for shard in shards)
            np.testing.assert_array_equal(interleaved, getattr(whole, name).numpy())


def test_the_lidar_samples_keep_their_values_on_the_processing_grid(one_bag):
    batches = TrainingBatches(one_bag, [3, 4], res=64, batch=2, augment=False)
    assert processing_grid(96, 72, 64) == batches.size == (64, 48)
    batch = batches.batch_at(0)
    for k, position in enumerate(batch.positions.tolist()):
        sample, grid = one_bag[position], batch.sparse[k].numpy()
        originals = sample.sparse_depth[np.isfinite(sample.sparse_depth)]
        kept = grid[np.isfinite(grid)]
        assert np.isin(kept, originals).all()                  # moved, never interpolated
        assert len(kept) > 0.5 * len(originals)
        cells = np.floor((np.argwhere(np.isfinite(sample.sparse_depth)) + 0.5) * 48 / 72).astype(int)
        nearest = {}
        for (r, c), d in zip(cells, originals):
            nearest[r, c] = min(d, nearest.get((r, c), np.inf))
        assert {(r, c): grid[r, c] for r, c in nearest} == nearest     # the nearest return of each cell
    validation = list(TrainingBatches(one_bag, [0, 1, 2, 3, 4], res=64, batch=2).once())
    assert [b.positions.tolist() for b in validation] == [[0, 1], [2, 3], [4]]
    assert not any(b.flipped.any() for b in validation)


def test_one_image_size_per_training_run(three_bags):
    with pytest.raises(FinetuneError, match='several image sizes'):
        TrainingBatches(three_bags, np.arange(len(three_bags)), res=64, batch=2)
    with pytest.raises(FinetuneError, match='must reach'):
        TrainingBatches(three_bags, [0], res=8, batch=1)
