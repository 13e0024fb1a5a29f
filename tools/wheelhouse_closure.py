"""Print name==version for the wheelhouse: the model's packages and everything they require, as installed here.

Markers are evaluated for every Python the wheelhouse serves (3.10 to 3.13), so a backport that
only an older Python needs is listed too when it is installed here, and named otherwise.
"""
from importlib import metadata
import re

from packaging.requirements import Requirement

ROOTS = ('diffusers', 'transformers', 'safetensors', 'tokenizers', 'huggingface-hub')
# Brought by the GPU machine's torch (and numpy, whose wheels alone would exceed the size limit).
PROVIDED = {'torch', 'numpy', 'filelock', 'fsspec', 'jinja2', 'markupsafe', 'sympy', 'mpmath', 'networkx',
            'typing-extensions', 'setuptools', 'triton'}
PYTHONS = ('3.10', '3.11', '3.12', '3.13')


def canonical(name):
    return re.sub(r'[-_.]+', '-', name).lower()


def main():
    pins, queue = {}, list(ROOTS)
    while queue:
        name = canonical(queue.pop())
        if name in pins or name in PROVIDED or name.startswith('nvidia-'):
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pins[name] = None      # needed on another Python only: its newest release
            continue
        pins[name] = dist.version
        for text in dist.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or any(
                    requirement.marker.evaluate({'python_version': py, 'extra': ''}) for py in PYTHONS):
                queue.append(requirement.name)
    for name in sorted(pins):
        print(name if pins[name] is None else f'{name}=={pins[name]}')


if __name__ == '__main__':
    main()
