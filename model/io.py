"""Small, safe file helpers: atomic writes and clear errors for paths."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from model.errors import CarescaleError


def check_parent(path: Path) -> None:
    """Raise one clear error if ``path``'s folder does not exist."""
    parent = path.resolve().parent
    if not parent.is_dir():
        raise CarescaleError(f"cannot write '{path}': folder '{parent}' does not exist.")


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it into place.

    A failure or an interruption leaves no partial ``path`` behind.
    """
    path = Path(path)
    check_parent(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    return atomic_write(path, write)
