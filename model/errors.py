"""Errors a user can cause and fix.

Every ``CarescaleError`` carries one clear sentence naming the file, the key, the value and
what is allowed. The command line prints that sentence and exits non-zero; it never shows a
traceback for a user mistake.
"""


class CarescaleError(Exception):
    """A mistake in the user's input (file, key, value), described in one sentence."""


class RegisterError(CarescaleError):
    """The evidence register (parameter files) is malformed or a key is unknown."""


class ScenarioError(CarescaleError):
    """A scenario file or a run setting is malformed."""


class ResultsError(CarescaleError):
    """A results folder is missing, incomplete or corrupt."""
