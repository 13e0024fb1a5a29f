"""Every estimator the project runs, and every test estimator, is what the pipeline may call."""
import threading

from depthmaster_ros.model import CompilableEstimator, DeviceEstimator, Estimator, load_estimator

from fixtures_estimators import CountingEstimator, OutOfMemoryFirst, SceneTruthEstimator


def test_the_backends_satisfy_the_protocols_they_claim(tiny_estimator, tiny_marigold_dir):
    assert isinstance(tiny_estimator, DeviceEstimator) and isinstance(tiny_estimator, CompilableEstimator)
    marigold = load_estimator('marigold', str(tiny_marigold_dir), marigold_steps=1)
    assert isinstance(marigold, Estimator)
    assert not isinstance(marigold, DeviceEstimator), 'marigold hands back host maps only'
    assert not isinstance(marigold, CompilableEstimator)


def test_the_test_estimators_satisfy_the_estimator_protocol(tiny_estimator):
    for estimator in (SceneTruthEstimator([]), OutOfMemoryFirst(tiny_estimator),
                      CountingEstimator(tiny_estimator, threading.Event())):
        assert isinstance(estimator, Estimator), type(estimator).__name__
    assert isinstance(CountingEstimator(tiny_estimator), DeviceEstimator)


def test_an_object_without_a_space_is_no_estimator(tiny_estimator):
    class NoSpace:
        backend, model_id, device, dtype = 'x', 'x', tiny_estimator.device, tiny_estimator.dtype

        def predict(self, rgb, processing_res=768):
            return tiny_estimator.predict(rgb, processing_res)

        def predict_batch(self, frames, processing_res=768):
            return tiny_estimator.predict_batch(frames, processing_res)

        def warm_up(self, image_sizes, processing_res, batch_sizes=(1,)):
            return {}

    assert not isinstance(NoSpace(), Estimator)
