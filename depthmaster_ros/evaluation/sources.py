"""The files of a dataset, from a directory or from the tar file the official evaluation reads as is.

Paths are relative to the dataset's root, as its split list writes them; tar members may carry a
leading './' (the official archives do). Images are decoded with OpenCV: colour as RGB uint8, 16-bit
PNGs as they are stored.
"""
from pathlib import Path
import tarfile

import numpy as np

from .errors import EvaluationError


class DataSource:
    """Read-only access to a dataset root (a directory or a tar file)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.exists():
            raise EvaluationError(f'dataset: {self.root} does not exist')
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        if self.root.is_file():
            if not tarfile.is_tarfile(self.root):
                raise EvaluationError(f'dataset: {self.root} is neither a directory nor a tar file')
            self._tar = tarfile.open(self.root)
            self._members = {_plain(m.name): m for m in self._tar.getmembers() if m.isfile()}

    @property
    def is_tar(self) -> bool:
        return self._tar is not None

    def exists(self, relative: str) -> bool:
        if self._tar is not None:
            return _plain(relative) in self._members
        return (self.root / relative).is_file()

    def read_bytes(self, relative: str) -> bytes:
        if self._tar is not None:
            member = self._members.get(_plain(relative))
            handle = None if member is None else self._tar.extractfile(member)
            if handle is None:
                raise EvaluationError(f'dataset: {relative} is not in {self.root}')
            return handle.read()
        path = self.root / relative
        if not path.is_file():
            raise EvaluationError(f'dataset: {path} does not exist')
        return path.read_bytes()

    def read_rgb(self, relative: str) -> np.ndarray:
        """An image file as (H, W, 3) uint8 RGB."""
        import cv2
        bgr = cv2.imdecode(np.frombuffer(self.read_bytes(relative), np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise EvaluationError(f'dataset: cannot decode {relative} as an image')
        return np.ascontiguousarray(bgr[..., ::-1])

    def read_png16(self, relative: str) -> np.ndarray:
        """A single-channel PNG as stored (uint16 for depth maps)."""
        import cv2
        image = cv2.imdecode(np.frombuffer(self.read_bytes(relative), np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 2:
            raise EvaluationError(f'dataset: {relative} is not a single-channel image')
        return image

    def read_npy(self, relative: str) -> np.ndarray:
        import io
        return np.load(io.BytesIO(self.read_bytes(relative)), allow_pickle=False)

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def _plain(name: str) -> str:
    return name[2:] if name.startswith('./') else name
