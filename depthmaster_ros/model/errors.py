"""The one error type for a model that cannot be loaded (torch-free, so callers can catch it cheaply)."""


class ModelLoadError(RuntimeError):
    """A model directory or hub id that cannot be used; the message names the file and the fix."""
