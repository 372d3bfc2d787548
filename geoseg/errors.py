"""Errors geoseg raises: one root class, a few kinds, one-line messages that name the thing and the fix.

Each kind also inherits the builtin it refines, so callers can catch either.
"""


class GeosegError(Exception):
    """Root of every error geoseg raises on purpose."""


class ConfigError(GeosegError, ValueError):
    """An option or parameter has a value geoseg cannot use."""


class SceneError(GeosegError, ValueError):
    """A scene cannot be read or used (corrupt file, no CRS, missing bands, ...)."""


class ModelError(GeosegError, ValueError):
    """A model cannot be loaded or does not fit the scene."""


class OutputError(GeosegError, OSError):
    """An output cannot be written."""
