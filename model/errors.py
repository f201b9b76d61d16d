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


#: echoed values are cut to this many characters
SHOW_CHARS = 80
#: a refusal is one line of at most this many characters
MAX_MESSAGE_CHARS = 300


def escape(text: str) -> str:
    """``text`` with control and other non-printable characters escaped (``\\n``, ``\\x1b``)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending with "…" when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show(value: object, limit: int = SHOW_CHARS) -> str:
    """A value echoed in a message: strings quoted, escaped and cut to ``limit`` characters."""
    if isinstance(value, str):
        return "'" + cut(escape(value), limit) + "'"
    if isinstance(value, (list, tuple)) and len(value) > 8:
        head = ", ".join(repr(v) for v in value[:3])
        return cut(escape(f"[{head}, … ({len(value):,} values)]"), limit)
    return cut(escape(repr(value)), limit)


ERROR_PREFIX = "carescale: error: "


def one_line(message: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """A message as one printable line of at most ``limit`` characters."""
    return cut(escape(" ".join(message.split("\n"))), limit)


def error_line(message: str) -> str:
    """The line that reports a refusal: the prefix and the message, at most 300 characters."""
    return ERROR_PREFIX + one_line(message, MAX_MESSAGE_CHARS - len(ERROR_PREFIX))
