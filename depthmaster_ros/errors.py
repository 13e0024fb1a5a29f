"""The one base of every error this package raises on purpose: `except DepthmasterError` catches them all.

Each subpackage has its own `errors.py` whose classes derive from `DepthmasterError` and from the builtin
error they stand for (`ConfigError` is also a `ValueError`), so `except ValueError` keeps working. Every
message names the offending field or file and the fix.
"""


class DepthmasterError(Exception):
    """Base of the package's errors."""


class InputError(DepthmasterError, ValueError):
    """An input that cannot be used: a message of a frame (`kind` is its counter on /diagnostics and in
    the bag summary) or a command-line input that names nothing usable."""

    def __init__(self, message: str, *, kind: str = 'input'):
        super().__init__(message)
        self.kind = kind
