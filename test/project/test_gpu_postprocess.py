"""gpu_postprocess equals the numpy reference (alignment/fit.py, backprojection.py) on CPU and CUDA tensors.

Tolerances: the fit is the reference's own, run on the host copy of the samples, so scale, shift, rmse and the
scale uncertainty agree to 1e-9 relative and the inlier counts and reasons exactly; per-pixel metres and
points are float32 on the device against float64-then-float32 in the reference, so they agree to 1e-5
relative, and a pixel may change validity only where its depth sits within that tolerance of the min/max depth
limits.
"""
import numpy as np
import pytest
import torch

from depthmaster_ros.alignment import fit as alignment
from depthmaster_ros.geometry import backprojection
import gpu_postprocess
from depthmaster_ros.geometry.camera_model import CameraModel
from depthmaster_ros.alignment.lidar_projection import project_to_sparse_depth
from depthmaster_ros.synthetic.scene import SyntheticScene, fake_prediction

FIT_RTOL = 1e-9
PIXEL_RTOL = 1e-5

DEVICES = [
    'cpu',
    pytest.param('cuda', marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason='CUDA parametrisation: no CUDA device in this environment')),
]


@pytest.fixture(scope='module')
def small_scene_frame():
    scene = SyntheticScene(width=160, height=120, lidar_range_noise=0.02, lidar_outlier_fraction=0.2, seed=3)
    return scene.render(0.7)


def sparse_from_lidar(frame):
    return project_to_sparse_depth(frame.lidar_points_in_camera(), frame.camera, frame.camera.width,
                                   frame.camera.height).depth


def assert_same_result(actual, expected):
    assert actual.ok == expected.ok
    assert actual.reason == expected.reason
    assert actual.space == expected.space
    assert actual.num_points == expected.num_points
    assert actual.num_inliers == expected.num_inliers
    for name in ('scale', 'shift', 'rmse_m', 'scale_uncertainty'):
        a, e = getattr(actual, name), getattr(expected, name)
        if not np.isfinite(e):
            assert a == e or (np.isnan(a) and np.isnan(e)), name
        else:
            assert a == pytest.approx(e, rel=FIT_RTOL), name


def assert_same_metric(actual, expected, min_depth, max_depth):
    actual = actual.cpu().numpy() if isinstance(actual, torch.Tensor) else actual
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    differ = np.isnan(actual) != np.isnan(expected)
    reference = np.where(np.isnan(expected), actual, expected)
    near_limit = (np.abs(reference - min_depth) <= PIXEL_RTOL * min_depth) | \
        (np.abs(reference - max_depth) <= PIXEL_RTOL * max_depth)
    assert not np.any(differ & ~near_limit), f'{int((differ & ~near_limit).sum())} pixels changed validity'
    both = ~np.isnan(actual) & ~np.isnan(expected)
    np.testing.assert_allclose(actual[both], expected[both], rtol=PIXEL_RTOL)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('space', alignment.SPACES)
def test_space_transforms_match_reference(device, space):
    values = np.array([0.5, 1.0, 3.0, 80.0, 0.0, -1.0, np.nan, np.inf, 1e-30])
    for ours, reference in ((gpu_postprocess.to_space, alignment.to_space),
                            (gpu_postprocess.from_space, alignment.from_space)):
        actual = ours(torch.from_numpy(values).to(device), space).cpu().numpy()
        expected = reference(values, space)
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
        np.testing.assert_allclose(actual[~np.isnan(actual)], expected[~np.isnan(expected)], rtol=1e-12)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('space', alignment.SPACES)
def test_apply_alignment_batch_matches_reference_per_frame(device, space):
    rng = np.random.default_rng(0)
    relative = rng.uniform(0.0, 1.0, (3, 40, 50)).astype(np.float32)
    scales, shifts = [0.9, 2.5, float('nan')], [0.2, 0.05, 0.1]
    metric = gpu_postprocess.apply_alignment(torch.from_numpy(relative).to(device), space, scales, shifts,
                                             min_depth=0.5, max_depth=20.0)
    assert metric.shape == relative.shape and metric.device.type == device
    for index in range(3):
        expected = alignment.apply_alignment(relative[index], space, scales[index], shifts[index], 0.5, 20.0)
        assert_same_metric(metric[index], expected, 0.5, 20.0)
    assert torch.isnan(metric[2]).all(), 'a non-finite fit must give no metric pixels'


def fit_rows(rng):
    """Rows the reference must treat differently: clean, outliers, degenerate, reversed, tiny."""
    n = 300
    pred = rng.uniform(0.1, 1.0, (8, n))
    target = 1.7 * pred + 0.3 + 0.01 * rng.standard_normal((8, n))
    outliers = rng.random(n) < 0.2
    target[1, outliers] = rng.uniform(0.0, 3.0, outliers.sum())
    target[2] = 0.8                     # no spread in the targets
    pred[3] = 0.5                       # no spread in the prediction
    target[4] = -1.2 * pred[4] + 2.0    # the prediction decreases with the target
    pred[7] = rng.uniform(0.50, 0.52, n)  # too little spread for the noise: scale poorly constrained
    target[7] = 1.7 * pred[7] + 0.3 + 0.02 * rng.standard_normal(n)
    valid = np.ones((8, n), bool)
    valid[5, 10:] = False               # too few points
    valid[6, ::3] = False               # a partial row
    pred[6, 1] = np.nan                 # a non-finite sample is ignored
    return pred, target, valid


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('space', alignment.SPACES)
def test_batched_fit_matches_reference_row_by_row(device, space):
    pred, target, valid = fit_rows(np.random.default_rng(1))
    results = gpu_postprocess.fit_scale_shift(torch.from_numpy(pred).to(device), torch.from_numpy(target).to(device),
                                              space, valid=torch.from_numpy(valid).to(device), min_points=20)
    assert len(results) == len(pred)
    for row, result in enumerate(results):
        expected = alignment.fit_scale_shift(pred[row][valid[row]], target[row][valid[row]], space, min_points=20)
        assert_same_result(result, expected)
    assert [result.ok for result in results] == [True, True, False, False, False, False, True, False]
    assert results[7].reason.startswith('depth support too narrow')


@pytest.mark.parametrize('device', DEVICES)
def test_batched_fit_with_a_scoring_subset_matches_reference(device):
    """Rows longer than LMEDS_SCORING_POINTS: the start is scored on the same seeded subset as the reference."""
    rng = np.random.default_rng(4)
    n = 3 * alignment.LMEDS_SCORING_POINTS
    pred = rng.uniform(0.1, 1.0, (3, n))
    target = 1.3 * pred + 0.2 + 0.005 * rng.standard_normal((3, n))
    behind = rng.random((3, n)) < 0.3
    target[behind] -= rng.uniform(0.05, 0.6, behind.sum())
    valid = np.ones((3, n), bool)
    valid[1, 2 * alignment.LMEDS_SCORING_POINTS:] = False      # a shorter row, still above the subset size
    valid[2, alignment.LMEDS_SCORING_POINTS // 2:] = False     # a row below it: every point scores
    results = gpu_postprocess.fit_scale_shift(torch.from_numpy(pred).to(device), torch.from_numpy(target).to(device),
                                              'depth', valid=torch.from_numpy(valid).to(device))
    for row, result in enumerate(results):
        expected = alignment.fit_scale_shift(pred[row][valid[row]], target[row][valid[row]], 'depth')
        assert_same_result(result, expected)
        assert result.ok and result.scale == pytest.approx(1.3, rel=0.02)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('space', alignment.SPACES)
def test_align_to_sparse_depth_matches_reference_on_scene(device, space, small_scene_frame):
    frame = small_scene_frame
    relative = fake_prediction(frame.depth, space, np.random.default_rng(2)).astype(np.float32)
    sparse = sparse_from_lidar(frame)
    assert np.isfinite(sparse).sum() > 100
    expected_metric, expected = alignment.align_to_sparse_depth(relative, space, sparse, max_depth=50.0)
    metric, result = gpu_postprocess.align_to_sparse_depth(
        torch.from_numpy(relative).to(device), space, torch.from_numpy(sparse).to(device), max_depth=50.0)
    assert expected.ok
    assert_same_result(result, expected)
    assert_same_metric(metric, expected_metric, 0.1, 50.0)


@pytest.mark.parametrize('device', DEVICES)
def test_batched_alignment_with_subsampling_matches_reference(device, small_scene_frame):
    """Two cameras in one batch, fewer max_points than samples (the seeded subsample must be the same), min_depth 0."""
    frame = small_scene_frame
    rng = np.random.default_rng(5)
    relative = np.stack([fake_prediction(frame.depth, 'sqrt_disparity', rng) for _ in range(2)]).astype(np.float32)
    sparse = np.stack([sparse_from_lidar(frame), np.full(frame.depth.shape, np.nan, np.float32)])
    metric, results = gpu_postprocess.align_to_sparse_depth(
        torch.from_numpy(relative).to(device), 'sqrt_disparity', torch.from_numpy(sparse).to(device),
        min_depth=0.0, max_points=60, min_points=20)
    for index in range(2):
        expected_metric, expected = alignment.align_to_sparse_depth(
            relative[index], 'sqrt_disparity', sparse[index], min_depth=0.0, max_points=60, min_points=20)
        assert_same_result(results[index], expected)
        assert_same_metric(metric[index], expected_metric, 0.0, 100.0)
    assert results[0].ok and results[0].num_points == 60
    assert not results[1].ok and results[1].reason.startswith('too few points')


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('distortion', [False, True])
@pytest.mark.parametrize('stride', [1, 3])
def test_depth_to_points_matches_reference(device, distortion, stride):
    frame = SyntheticScene(width=96, height=72, distortion=distortion, seed=1).render(0.2)
    depth = frame.depth.copy()
    depth[5:9, 10:20] = np.nan
    depth[30, 30] = -1.0
    organised = gpu_postprocess.depth_to_points(torch.from_numpy(depth).to(device), frame.camera, stride)
    expected = backprojection.depth_to_points(depth, frame.camera, stride, organized=True)
    actual = organised.cpu().numpy()
    assert actual.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(actual), np.isnan(expected))
    np.testing.assert_allclose(actual[~np.isnan(actual)], expected[~np.isnan(expected)], rtol=PIXEL_RTOL, atol=1e-6)
    batch = gpu_postprocess.depth_to_points(torch.from_numpy(np.stack([depth, depth])).to(device), frame.camera,
                                            stride, organized=False)
    expected_flat = backprojection.depth_to_points(depth, frame.camera, stride, organized=False)
    for points in batch:
        np.testing.assert_allclose(points.cpu().numpy(), expected_flat, rtol=PIXEL_RTOL, atol=1e-6)


def test_camera_is_scaled_to_the_depth_size():
    camera = CameraModel.pinhole(200, 100, 150.0)
    depth = np.full((50, 100), 2.0, np.float32)
    actual = gpu_postprocess.depth_to_points(torch.from_numpy(depth), camera).numpy()
    np.testing.assert_allclose(actual, backprojection.depth_to_points(depth, camera), rtol=PIXEL_RTOL)


@pytest.mark.parametrize('call, field', [
    (lambda: gpu_postprocess.to_space(torch.ones(3), 'metres'), 'space'),
    (lambda: gpu_postprocess.apply_alignment(torch.ones(2, 2, 2, 2), 'depth', 1.0, 0.0), 'relative'),
    (lambda: gpu_postprocess.apply_alignment(torch.ones(3, 2, 2), 'depth', [1.0, 2.0], 0.0), 'scale'),
    (lambda: gpu_postprocess.align_to_sparse_depth(torch.ones(4, 4), 'depth', torch.ones(4, 5)), 'sparse_depth'),
    (lambda: gpu_postprocess.align_to_sparse_depth(torch.ones(4, 4), 'depth', torch.ones(4, 4), min_depth=5.0,
                                                   max_depth=1.0), 'min_depth'),
    (lambda: gpu_postprocess.align_to_sparse_depth(torch.ones(4, 4), 'depth', torch.ones(4, 4), min_depth=-1.0),
     'min_depth'),
    (lambda: gpu_postprocess.fit_scale_shift(torch.ones(5), torch.ones(4)), 'target'),
    (lambda: gpu_postprocess.fit_scale_shift(torch.ones(5), torch.ones(5), valid=torch.ones(4)), 'valid'),
    (lambda: gpu_postprocess.fit_scale_shift(['a'], ['b']), 'pred'),
    (lambda: gpu_postprocess.depth_to_points(torch.ones(4, 4), CameraModel.pinhole(4, 4, 3.0), stride=0), 'stride'),
])
def test_bad_input_names_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()


@pytest.mark.parametrize('device', DEVICES)
def test_host_copies_round_trip(device):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    on_device = gpu_postprocess.to_device(array, device)
    assert on_device.device.type == device
    np.testing.assert_array_equal(gpu_postprocess.to_host(on_device), array)
