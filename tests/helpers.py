"""Helpers shared by several test modules (imported as ``from helpers import ...``)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.demand import Events
from model.engine import Engine, NextYear


def assert_one_error_line(err: str, *fragments: str) -> None:
    """The command printed exactly one 'carescale: error: ...' line containing fragments."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("carescale: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


class RecordingEngine(Engine):
    """The engine, keeping a copy of each year's people, death days, births and demand."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.years: list[dict[str, Any]] = []

    def _begin_year(self, year: int, ready: NextYear | None = None) -> None:
        super()._begin_year(year, ready)
        w = self.world
        self.years.append(
            {
                "person_id": w.pop.person_id.copy(),
                "death_day": w.death_day.copy(),
                "exposure_days": w.exposure_days.copy(),
                "entry_day": w.entry_day.copy(),
                "age": w.pop.age.copy(),
                "sex": w.pop.sex.copy(),
                "births": self.births,
                "events": {
                    s: Events(e.person.copy(), e.k.copy(), e.day.copy(), e.ids.copy())
                    for s, e in w.events.items()
                },
            }
        )


# ----------------------------------------------------------------------------- bad input
# Shared by the table-driven bad-input suite and the scenario property tests.

#: a refusal is one line of at most this many characters (prefix included)
MAX_ERROR_LINE = 300
ERROR_PREFIX = "carescale: error: "
#: Unicode categories that must never appear raw in an error line (they move the cursor,
#: colour the terminal or break the line)
_RAW_FORBIDDEN = frozenset({"Cc", "Zl", "Zp"})


def snapshot_tree(root: Path) -> dict[str, tuple[int, str, int]]:
    """Every file, folder and link under ``root`` (hidden ones too, ``root`` itself as '.').

    Maps the '/'-separated relative path to (size, sha256 or link target, mode); folders
    have size 0 and an empty digest. Links are recorded, never followed.
    """
    out: dict[str, tuple[int, str, int]] = {}
    st = os.lstat(root)
    out["."] = (0, "", st.st_mode)
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = (st.st_size, "-> " + os.readlink(path), st.st_mode)
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = (0, "", st.st_mode)
            else:
                out[rel] = (st.st_size, hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode)
    return out


def assert_same_tree(before: dict[str, tuple[int, str, int]], root: Path) -> None:
    """Nothing under ``root`` was written, changed or deleted since ``before`` was taken."""
    after = snapshot_tree(root)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"files on disk changed: added {added[:10]}, removed {removed[:10]}, changed {changed[:10]}"
    )


def raw_control_characters(text: str) -> list[str]:
    """Characters of ``text`` that a terminal would act on (control, line separators)."""
    return [repr(ch) for ch in text if unicodedata.category(ch) in _RAW_FORBIDDEN]


def fragment_missing(text: str, fragment: str | tuple[str, ...]) -> bool:
    """True if ``fragment`` (or, for a tuple, every one of its alternatives) is not in ``text``."""
    options = (fragment,) if isinstance(fragment, str) else fragment
    return not any(option in text for option in options)


def assert_no_traceback(out: str, err: str) -> None:
    assert "Traceback" not in out and "Traceback" not in err, f"traceback:\n{out}\n{err}"


def assert_no_run_header(out: str) -> None:
    """The run header (``carescale 0.x.y: ...``) is not printed before a refusal."""
    for line in out.splitlines():
        assert not re.match(r"carescale \d+\.\d+", line), f"run header printed: {line!r}"


def assert_error_line(line: str, *fragments: str | tuple[str, ...]) -> None:
    """``line`` is one safe 'carescale: error: ...' line holding every fragment.

    A fragment that is a tuple is satisfied by any one of its alternatives. Fragments are
    looked for after the prefix, so 'carescale' in the prefix does not count.
    """
    assert line.startswith(ERROR_PREFIX), f"not an error line: {line!r}"
    assert len(line) <= MAX_ERROR_LINE, f"error line of {len(line)} characters: {line[:400]!r}"
    raw = raw_control_characters(line)
    assert not raw, f"raw control characters {raw[:5]} in {line!r}"
    message = line[len(ERROR_PREFIX) :]
    missing = [f for f in fragments if fragment_missing(message, f)]
    assert not missing, f"{missing} not in the error line {line!r}"


def last_error_line(err: str) -> str:
    """The last line printed on stderr (lines end at '\\n' only, as on a terminal)."""
    lines = [line for line in err.split("\n") if line.strip()]
    assert lines, "nothing was printed on stderr"
    return lines[-1]


def assert_refusal(code: int, out: str, err: str, *fragments: str | tuple[str, ...]) -> None:
    """Exit code 2, no traceback, no run header, and a last stderr line as the contract says."""
    assert_no_traceback(out, err)
    assert code == 2, f"exit code {code}, expected 2; stdout={out[-500:]!r} stderr={err[-500:]!r}"
    assert_no_run_header(out)
    assert_error_line(last_error_line(err), *fragments)


def check_problem_line(out: str, err: str, file: str) -> str:
    """The line in ``carescale check``'s output that reports a problem with ``file``."""
    lines = [line for line in (out + "\n" + err).split("\n") if file in line]
    problems = [
        line
        for line in lines
        if line.startswith(ERROR_PREFIX) or not re.search(r"\bok\b", line, re.IGNORECASE)
    ]
    assert problems, f"no line reports a problem with {file!r}: stdout={out!r} stderr={err!r}"
    return problems[-1]


def assert_check_refusal(
    code: int, out: str, err: str, file: str, *fragments: str | tuple[str, ...]
) -> None:
    """``carescale check`` refused: non-zero exit and one safe line naming ``file``."""
    assert_no_traceback(out, err)
    assert code != 0, f"check exited 0 for a bad file; stdout={out!r} stderr={err!r}"
    assert_no_run_header(out)
    line = check_problem_line(out, err, file)
    assert len(line) <= MAX_ERROR_LINE, f"problem line of {len(line)} characters: {line[:400]!r}"
    raw = raw_control_characters(line)
    assert not raw, f"raw control characters {raw[:5]} in {line!r}"
    body = line[len(ERROR_PREFIX) :] if line.startswith(ERROR_PREFIX) else line
    missing = [f for f in (file, *fragments) if fragment_missing(body, f)]
    assert not missing, f"{missing} not in the problem line {line!r}"


def run_main(argv: Sequence[str]) -> tuple[int, str, str]:
    """``model.cli.main(argv)`` in-process: (exit code, stdout, stderr)."""
    from model.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (quotes, backslashes and control characters escaped)."""
    parts = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            parts.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def toml_number(value: float | int) -> str:
    """A number as a TOML literal (``nan``, ``inf``, ``-inf`` for the special floats)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(float(value))


def toml_value(value: object) -> str:
    """A string, number or list of numbers as a TOML literal."""
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, (int, float)):
        return toml_number(value)
    raise TypeError(f"cannot write {value!r} as TOML")


def gp_capacity(register: Any, factor: float) -> dict[str, float]:
    """Every GP capacity key (clinician minutes by role) times ``factor``, as overrides."""
    from model.services.primary_care import CAPACITY_KEYS

    return {key: register.scalar(key) * factor for key in CAPACITY_KEYS}
