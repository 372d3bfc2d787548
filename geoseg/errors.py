"""Errors geoseg raises: one root class, a few kinds, one-line messages that name the thing and the fix.

Each kind also inherits the builtin it refines, so callers can catch either. An error about
options names them in ``options`` by field path (``tile_size``, ``scene_options.bands``), and its
message names them the same way (`` `bands` ``, or ``tile_size: ...``): a client that spells
options otherwise rewrites those names (the CLI writes its flags, ``--tile``, ``--bands``).
"""


class GeosegError(Exception):
    """Root of every error geoseg raises on purpose."""

    def __init__(self, *args: object, options: tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        # An instance attribute: pickling keeps it (BaseException.__reduce__ carries __dict__).
        self.options = tuple(options)


class ConfigError(GeosegError, ValueError):
    """An option or parameter has a value geoseg cannot use."""


class SceneError(GeosegError, ValueError):
    """A scene cannot be read or used (corrupt file, no CRS, missing bands, ...)."""


class ModelError(GeosegError, ValueError):
    """A model cannot be loaded or does not fit the scene."""


class OutputError(GeosegError, OSError):
    """An output cannot be written."""


class GeosegNote(UserWarning):
    """Something a user should know that changes nothing (a folder of outputs not taken for
    scenes): the CLI prints it as one line."""
