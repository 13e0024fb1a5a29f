"""Batch processing of many recorded bags: discovery, a resumable manifest, local and Ray executors."""
from .batch import run_batch
from .errors import FleetError, FleetStateError, WorkerStartError
from .identity import model_identity, run_hash
from .inputs import BagJob, discover
from .local_executor import LocalExecutor
from .manifest import DONE, FAILED, BagOutcome, Manifest, ManifestRecord
from .ray_executor import RayExecutor, connect_ray, token_auth_supported

__all__ = ['BagJob', 'BagOutcome', 'DONE', 'FAILED', 'FleetError', 'FleetStateError', 'LocalExecutor', 'Manifest',
           'ManifestRecord', 'RayExecutor', 'WorkerStartError', 'connect_ray', 'discover', 'model_identity', 'run_batch',
           'run_hash', 'token_auth_supported']
