"""The few array operations the navigation outputs need, for numpy and for torch.

A frame that stays on the GPU (pipeline/frame_maps.DeviceMaps) has its metres there already; the
scan and the obstacle cloud are then computed where they are and only their small results come back
to the host. Everything else in the navigation code is written with operators that numpy arrays and
torch tensors share; what differs between the two is here, chosen once per frame by `ops_for`.
"""
from typing import Any

import numpy as np


class HostOps:
    """numpy."""
    device = None

    def nonzero(self, mask: Any) -> Any:
        return np.flatnonzero(mask)

    def to_int(self, values: Any, wide: bool = False) -> Any:
        return values.astype(np.int64 if wide else np.int32)

    def full(self, shape: Any, value: float) -> Any:
        return np.full(shape, value, np.float32)

    def constant(self, key: tuple[Any, ...], array: np.ndarray) -> Any:
        return array

    def copy(self, values: Any) -> Any:
        """A contiguous copy."""
        return np.array(values, np.float32, order='C')

    def fmin_into(self, target: Any, other: Any) -> None:
        np.fmin(target, other, out=target)

    def replace_nan(self, values: Any, value: float) -> None:
        """NaN in values becomes value, in place; value must be above every other value (one fmin)."""
        np.fmin(values, value, out=values)

    def atan2(self, y: Any, x: Any) -> Any:
        return np.arctan2(y, x)

    def bincount(self, values: Any, length: int) -> Any:
        return np.bincount(values, minlength=length)

    def scatter_min(self, target: Any, index: Any, values: Any) -> None:
        np.minimum.at(target, index, values)

    def stack_columns(self, columns: Any) -> Any:
        return np.column_stack(columns)

    def column_min(self, array: Any) -> Any:
        return np.array([array[:, k].min() for k in range(array.shape[1])])   # min(axis=0) is slower on few rows

    def floor(self, values: Any) -> Any:
        return np.floor(values)

    def row_ids(self, array: Any) -> Any:
        return np.unique(array, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)

    def argsort(self, values: Any) -> Any:
        return np.argsort(values, kind='stable')      # ties in order of the pixels, on every device alike

    def tile(self, values: Any, count: int) -> Any:
        return np.tile(values, count)

    def offsets(self, low: int, high: int) -> Any:
        return np.arange(low, high, dtype=np.int32)

    def host(self, array: Any) -> np.ndarray:
        return np.ascontiguousarray(array, np.float32)

    def from_host(self, array: Any) -> Any:
        return array


class DeviceOps(HostOps):
    """torch, on the device of the frame's tensors."""

    def __init__(self, device: Any):
        import torch
        self.torch = torch
        self.device = device
        self._constants: dict[tuple[Any, ...], Any] = {}

    def nonzero(self, mask: Any) -> Any:
        return self.torch.nonzero(mask.reshape(-1)).reshape(-1)

    def to_int(self, values: Any, wide: bool = False) -> Any:
        return values.to(self.torch.int64)          # torch indexes with int64

    def full(self, shape: Any, value: float) -> Any:
        return self.torch.full(tuple(np.atleast_1d(shape)), value, dtype=self.torch.float32, device=self.device)

    def constant(self, key: tuple[Any, ...], array: np.ndarray) -> Any:
        tensor = self._constants.get(key)
        if tensor is None:
            if len(self._constants) >= 16:
                self._constants.pop(next(iter(self._constants)))
            tensor = self._constants[key] = self.torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
        return tensor

    def copy(self, values: Any) -> Any:
        return values.clone(memory_format=self.torch.contiguous_format)

    def fmin_into(self, target: Any, other: Any) -> None:
        target.copy_(self.torch.fmin(target, other))

    def replace_nan(self, values: Any, value: float) -> None:
        values.nan_to_num_(nan=value)

    def atan2(self, y: Any, x: Any) -> Any:
        return self.torch.atan2(y, x)

    def bincount(self, values: Any, length: int) -> Any:
        return self.torch.bincount(values, minlength=length)

    def scatter_min(self, target: Any, index: Any, values: Any) -> None:
        target.scatter_reduce_(0, index, values, reduce='amin')

    def stack_columns(self, columns: Any) -> Any:
        return self.torch.stack(list(columns), dim=1)

    def column_min(self, array: Any) -> Any:
        return array.min(dim=0).values

    def floor(self, values: Any) -> Any:
        return self.torch.floor(values)

    def row_ids(self, array: Any) -> Any:
        return self.torch.unique(array, dim=0, return_inverse=True)[1].reshape(-1)

    def argsort(self, values: Any) -> Any:
        return self.torch.argsort(values, stable=True)

    def tile(self, values: Any, count: int) -> Any:
        return values.repeat(count)

    def offsets(self, low: int, high: int) -> Any:
        return self.torch.arange(low, high, dtype=self.torch.int64, device=self.device)

    def host(self, array: Any) -> np.ndarray:
        return np.ascontiguousarray(array.detach().to('cpu', self.torch.float32).numpy())

    def from_host(self, array: Any) -> Any:
        return self.torch.as_tensor(np.asarray(array, np.float32), device=self.device)


_DEVICE_OPS: dict[str, DeviceOps] = {}
HOST = HostOps()


def ops_for(array: Any) -> HostOps:
    """numpy's operations for an ndarray, torch's (on its device) for a tensor."""
    if isinstance(array, np.ndarray) or not hasattr(array, 'device') or not hasattr(array, 'detach'):
        return HOST
    key = str(array.device)
    if key not in _DEVICE_OPS:
        _DEVICE_OPS[key] = DeviceOps(array.device)
    return _DEVICE_OPS[key]
