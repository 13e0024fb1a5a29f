"""The synthetic scenes by name: what `make-sample --scene` and the sample bag's `scene=` choose from."""
from typing import Any

from .errors import SyntheticError
from .scene import SyntheticScene
from .street import StreetScene

SCENES: dict[str, type[SyntheticScene]] = {'room': SyntheticScene, 'street': StreetScene}


def scene_names() -> tuple[str, ...]:
    return tuple(SCENES)


def make_scene(name: str, **options: Any) -> SyntheticScene:
    """The scene called `name` with SyntheticScene's options (size, seed, LiDAR, start stamp)."""
    if name not in SCENES:
        raise SyntheticError(f'scene: expected one of {", ".join(SCENES)}, got {name!r}')
    return SCENES[name](**options)
