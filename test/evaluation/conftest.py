"""Tiny synthetic datasets in every official layout, written once per session."""
import pytest

TAR_LAYOUTS = ('kitti', 'nyu', 'eth3d', 'scannet', 'diode')
ALL_LAYOUTS = TAR_LAYOUTS + ('void', 'folder')


@pytest.fixture(scope='session')
def layouts(tmp_path_factory):
    """name -> PATH of the folder layout; name + '.tar' -> PATH of the tar layout (official archives)."""
    from depthmaster_ros.synthetic import write_layout
    paths = {}
    for name in ALL_LAYOUTS:
        paths[name] = write_layout(name, tmp_path_factory.mktemp(name), frames=2, seed=3)
        if name in TAR_LAYOUTS:
            paths[f'{name}.tar'] = write_layout(name, tmp_path_factory.mktemp(f'{name}_tar'), frames=2, seed=3,
                                                tar=True)
    return paths
