"""The benchmark scripts live outside the package; their modules are imported by name from benchmarks/."""
from pathlib import Path
import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))
