"""Which bags a batch processes, and where each one's output goes.

An input is a bag (an .mcap or .db3 file, or a rosbag2 directory holding metadata.yaml), a directory
searched recursively for bags, or a glob of either. A bag named on its own writes to ``OUT/<its
name>``; a bag found under a directory argument keeps its path relative to that directory, so
``robot1/day.mcap`` and ``robot2/day.mcap`` do not collide.
"""
from dataclasses import dataclass
import glob
import os
from pathlib import Path

from depthmaster_ros.errors import InputError

BAG_FILE_SUFFIXES = ('.mcap', '.db3')
BAG_METADATA = 'metadata.yaml'


@dataclass(frozen=True)
class BagJob:
    input: str          # the bag as found (absolute)
    output: str         # where its output bag goes (absolute)
    name: str           # the output's path relative to OUT: the bag's identity in the manifest


def is_bag_directory(path: Path) -> bool:
    return path.is_dir() and (path / BAG_METADATA).is_file()


def is_bag_file(path: Path) -> bool:
    return path.is_file() and path.suffix in BAG_FILE_SUFFIXES


def _hidden(path: Path) -> bool:
    """Names starting with a dot: partial outputs of an unfinished run, editor files, .git."""
    return path.name.startswith('.')


def _bags_under(directory: Path, skip: Path) -> list[Path]:
    """Bags below a directory: bag directories are not searched inside; files inside them are theirs."""
    found = []
    for root, dirs, files in os.walk(directory):
        root_path = Path(root)
        keep = []
        for name in sorted(dirs):
            child = root_path / name
            if _hidden(child) or child.resolve() == skip:
                continue
            if is_bag_directory(child):
                found.append(child)
            else:
                keep.append(name)
        dirs[:] = keep
        found.extend(root_path / name for name in sorted(files)
                     if not name.startswith('.') and Path(name).suffix in BAG_FILE_SUFFIXES)
    return sorted(found)


def _expand(argument: str) -> list[str]:
    if glob.has_magic(argument):
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            raise InputError(f'INPUTS: {argument!r} matches nothing; check the pattern (quote it so the shell '
                             'does not expand it first)')
        return matches
    return [argument]


def _output_name(relative: Path, storage: str | None) -> Path:
    """A single-file bag keeps its name, with the suffix of the storage asked for (--storage)."""
    if storage and relative.suffix in BAG_FILE_SUFFIXES:
        return relative.with_suffix('.mcap' if storage == 'mcap' else '.db3')
    return relative


def discover(arguments: list[str], out_dir: str | Path, storage: str | None = None) -> list[BagJob]:
    """The jobs for the INPUTS arguments, in a stable order; InputError names the argument and the fix."""
    out_dir = Path(out_dir).resolve()
    jobs: dict[str, BagJob] = {}
    for argument in arguments:
        for match in _expand(argument):
            path = Path(match)
            if is_bag_file(path) or is_bag_directory(path):
                pairs = [(path, Path(Path(os.path.abspath(path)).name))]     # x/.. names x/.. itself, not ..
            elif path.is_dir():
                pairs = [(bag, bag.relative_to(path)) for bag in _bags_under(path, out_dir)]
                if not pairs and not glob.has_magic(argument):
                    raise InputError(f'INPUTS: {path} holds no bag (.mcap, .db3 or a directory with {BAG_METADATA})')
            elif not path.exists():
                raise InputError(f'INPUTS: {path} does not exist')
            else:
                if glob.has_magic(argument):
                    continue
                raise InputError(f'INPUTS: {path} is not a bag; pass .mcap or .db3 files, bag directories '
                                 'or directories holding them')
            for bag, relative in pairs:
                relative = _output_name(relative, storage)
                _add(jobs, BagJob(str(bag.resolve()), str(out_dir / relative), relative.as_posix()))
    if not jobs:
        raise InputError('INPUTS: no bag found')
    return sorted(jobs.values(), key=lambda job: job.name)


def _add(jobs: dict[str, BagJob], job: BagJob) -> None:
    if Path(job.input) == Path(job.output) or Path(job.output) in Path(job.input).parents:
        raise InputError(f'--out: {job.input} would be overwritten by its own output; choose another --out')
    previous = jobs.get(job.name)
    if previous is None:
        jobs[job.name] = job
    elif previous.input != job.input:
        raise InputError(f'INPUTS: {previous.input} and {job.input} would both write {job.output}; pass their '
                         'parent directory instead, so each output keeps its relative path')
