"""The loss has the answers it should on constructed cases: zero for an exact affine, blind to outliers, ..."""
import numpy as np
import pytest
import torch

from depthmaster_ros.finetune import FinetuneError, LossSettings, depth_loss
from depthmaster_ros.finetune import loss as loss_module


def scene(seed=0, size=(24, 32)):
    """Depth in metres over an image (a slanted floor-like ramp plus noise-free texture), its sqrt disparity."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:size[0], 0:size[1]]
    depth = 2.0 + 20.0 * (1 - rows / size[0]) + 0.05 * cols + rng.uniform(0, 1, size)
    return torch.tensor(depth, dtype=torch.float32), torch.tensor(1 / np.sqrt(depth), dtype=torch.float32)


def lidar(depth, every=3):
    """Samples on every `every`-th row, NaN elsewhere."""
    sparse = torch.full_like(depth, float('nan'))
    sparse[::every] = depth[::every]
    return sparse


def test_an_exact_affine_of_the_truth_has_zero_loss():
    depth, truth = scene()
    pred = (0.3 * truth + 0.1)[None]
    terms = depth_loss(pred, lidar(depth)[None], None)
    assert terms.total.item() == pytest.approx(0.0, abs=1e-6)
    assert terms.fitted_images == 1 and terms.inlier_share > 0.9


@pytest.mark.parametrize('kind', ['huber', 'l1'])
def test_gross_outliers_are_rejected_by_the_fits_rule(kind):
    depth, truth = scene()
    sparse = lidar(depth)
    rng = np.random.default_rng(1)
    rows, cols = np.nonzero(np.isfinite(sparse.numpy()))
    bad = rng.choice(len(rows), len(rows) // 5, replace=False)
    sparse[rows[bad], cols[bad]] = torch.tensor(rng.uniform(0.3, 3.0, len(bad)), dtype=torch.float32)  # see-through
    pred = (0.5 * truth - 0.05)[None]
    terms = depth_loss(pred, sparse[None], None, LossSettings(kind=kind))
    assert terms.total.item() < 1e-5
    assert terms.inlier_share == pytest.approx(0.8, abs=0.03)


def test_the_loss_grows_with_the_error_and_its_gradient_reduces_it():
    depth, truth = scene()
    rng = np.random.default_rng(2)
    noise = torch.tensor(rng.normal(0, 1, truth.shape), dtype=torch.float32)
    losses = [depth_loss((truth + level * noise * truth.std())[None], lidar(depth)[None], None).total.item()
              for level in (0.0, 0.05, 0.2)]
    assert losses[0] < 1e-6 < losses[1] < losses[2]
    pred = (truth + 0.2 * noise * truth.std())[None].requires_grad_(True)
    loss = depth_loss(pred, lidar(depth)[None], None).total
    loss.backward()
    stepped = (pred - 1e-3 * pred.grad / pred.grad.abs().max()).detach()
    assert depth_loss(stepped, lidar(depth)[None], None).total.item() < loss.item()


def test_the_loss_does_not_depend_on_the_metric_scale_of_the_scene():
    depth, truth = scene()
    pred = (truth + 0.01 * torch.sin(torch.arange(truth.numel()).reshape(truth.shape).float()))[None]
    near = depth_loss(pred, lidar(depth)[None], None).total.item()
    far = depth_loss(pred, lidar(4 * depth)[None], None, LossSettings(max_depth=1000)).total.item()
    assert near > 0 and far == pytest.approx(near, rel=1e-4)


def test_too_few_samples_add_nothing_and_keep_the_graph():
    depth, truth = scene()
    sparse = torch.full_like(depth, float('nan'))
    sparse[0, :10] = depth[0, :10]
    pred = truth[None].clone().requires_grad_(True)
    terms = depth_loss(pred, sparse[None], None)
    assert terms.fitted_images == 0 and terms.total.item() == 0.0
    terms.total.backward()
    assert pred.grad is not None and torch.all(pred.grad == 0)


def test_preservation_acts_only_where_no_sample_reaches():
    depth, truth = scene(size=(48, 64))
    sparse = torch.full_like(depth, float('nan'))
    sparse[30:48:2] = depth[30:48:2]               # LiDAR sees the lower part only
    supported = loss_module.support_mask(torch.isfinite(sparse)[None])[0]
    assert supported[30:].all() and not supported[:20].any()
    base = truth[None]
    drift = truth.clone()
    drift[:10] += 0.2                              # the upper part drifts away from the base
    moved = depth_loss(drift[None], sparse[None], base)
    assert moved.preserve > 0.01
    assert moved.total.item() == pytest.approx(moved.fit + 0.1 * moved.preserve, rel=1e-5)
    changed_below = truth.clone()
    changed_below[40:] = 0.7 * changed_below[40:] + 0.1     # a change where the samples are: preservation is blind
    assert depth_loss(changed_below[None], sparse[None], base).preserve < 1e-6
    assert depth_loss((2 * truth + 1)[None], sparse[None], base).preserve < 1e-6   # the base up to an affine


def test_dense_ground_truth_is_the_same_loss_on_every_pixel():
    depth, truth = scene()
    pred = (0.3 * truth + 0.1)
    pred[5, 5] += 0.2
    dense = depth_loss(pred[None], depth[None], None)
    assert dense.fitted_images == 1 and dense.total.item() < 1e-3


def test_affine_fit_is_least_squares():
    pred = torch.tensor([0.0, 1.0, 2.0, 3.0])
    scale, shift = loss_module.affine_fit(pred, torch.tensor([1.0, 3.1, 4.9, 7.0]))
    expected = np.polyfit(pred.numpy(), [1.0, 3.1, 4.9, 7.0], 1)
    assert (scale.item(), shift.item()) == pytest.approx(tuple(expected), rel=1e-5)


def test_bad_settings_and_shapes_are_refused():
    with pytest.raises(FinetuneError, match='loss'):
        LossSettings(kind='l2')
    with pytest.raises(FinetuneError, match='shapes'):
        depth_loss(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5), None)


def test_a_prediction_the_wrong_way_round_is_pushed_the_right_way():
    depth, truth = scene()
    pred = (1.0 - truth)[None].requires_grad_(True)        # near and far swapped
    terms = depth_loss(pred, lidar(depth)[None], None)
    assert terms.fitted_images == 1 and terms.total.item() > 0.01
    terms.total.backward()
    stepped = (pred - 1e-3 * pred.grad / pred.grad.abs().max()).detach()[0]
    mask = np.isfinite(lidar(depth).numpy())
    before = np.corrcoef(pred.detach()[0].numpy()[mask], truth.numpy()[mask])[0, 1]
    after = np.corrcoef(stepped.numpy()[mask], truth.numpy()[mask])[0, 1]
    assert after > before
