"""Where carescale writes, and the rules that keep a user's files safe.

Every folder a carescale command writes (a run, a comparison, a report, a sweep) is
*carescale's*: it holds a ``manifest.json`` with ``"tool": "carescale"``, a ``kind``, a
``schema_version``, ``"complete": true`` and the list of files carescale wrote. A folder is
carescale's when every file in it is listed in its manifest or lies in a subfolder that is
itself carescale's (a ``report/`` inside a run folder, ``runs/<name>/`` inside a comparison).

* ``--overwrite`` replaces a folder only when it is carescale's; otherwise it refuses and names
  the first foreign file. It never replaces the current folder, one of its parents, the home
  folder, the file-system root or a file.
* A folder is written under a hidden staging folder beside its target and renamed into place
  only when every file is written, so a fault never leaves a folder that looks complete.
  The staging folder records its host, process id and start time; a later run removes one
  only if it is carescale's and its process is no longer alive on this host (or it is more
  than 24 hours old), never another host's live one. SIGINT, SIGTERM and every failure path
  remove the staging folder (and restore a folder that was being replaced).
* Folders are created with ordinary permissions (``0o777`` less the umask), so colleagues on
  a shared drive can read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from model.errors import ResultsError, show

TOOL = "carescale"
MANIFEST = "manifest.json"
#: kinds of folder carescale writes
KINDS = ("run", "compare", "report", "sweep")
#: the default output root below the current folder
RESULTS_ROOT = Path("results")
#: name prefix of staging folders (hidden, beside the target)
STAGE_PREFIX = ".carescale-staging-"
STAGE_RECORD = "staging.json"
#: a staging folder older than this is removed whoever made it
STALE_SECONDS = 24 * 3600
MAX_NAME_CHARS = 100
#: characters that are unsafe in a folder name on some file system (Windows shares too)
_UNSAFE_CHARS = frozenset('/\\:*?"<>|')
#: names Windows reserves for devices (with or without an extension)
_DEVICE_NAMES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(1, 10)}
)


# ----------------------------------------------------------------------------- names


def safe_component(name: object, where: str, key: str = "scenario.name") -> str:
    """``name`` if it is one safe path component, else one clear error.

    Refuses separators and characters unsafe on common file systems, ``.``/``..`` and names
    starting with a dot (hidden), control characters, leading or trailing spaces, and more
    than ``MAX_NAME_CHARS`` characters.
    """
    allowed = (
        f'allowed: 1 to {MAX_NAME_CHARS} printable characters, no / \\ : * ? " < > |, '
        "not starting or ending with '.', no leading or trailing spaces"
    )
    if not isinstance(name, str) or not name:
        raise ResultsError(f"{where}: '{key}' = {show(name)} must be non-empty text; {allowed}.")
    bad = ""
    if len(name) > MAX_NAME_CHARS:
        bad = f"is {len(name)} characters long"
    elif any(not ch.isprintable() for ch in name):
        bad = "contains a control character"
    elif any(ch in _UNSAFE_CHARS for ch in name):
        bad = "contains a path separator or a character unsafe in folder names"
    elif name.startswith("."):
        bad = "starts with '.'"
    elif name != name.strip() or name.endswith("."):
        bad = "has leading or trailing spaces or a trailing '.'"
    elif name.split(".")[0].upper() in _DEVICE_NAMES:
        bad = "is a device name on Windows"
    if bad:
        raise ResultsError(
            f"{where}: '{key}' = {show(name)} {bad}; it names the results folder, so {allowed}."
        )
    return name


def default_folder(name: str, prefix: str = "") -> Path:
    """``./results/<prefix><name>`` for a name already checked by ``safe_component``."""
    return RESULTS_ROOT / f"{prefix}{name}"


# ----------------------------------------------------------------------------- ownership


def read_owned_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a carescale folder, or None if it has none (or not ours)."""
    path = folder / MANIFEST
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("tool") != TOOL:
        return None
    return data


def _listing(manifest: Mapping[str, Any]) -> set[str]:
    files = manifest.get("files")
    listed = {str(f) for f in files} if isinstance(files, list) else set()
    return listed | {MANIFEST}


def _foreign_in(folder: Path, listed: set[str], base: Path) -> Path | None:
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            return entry
        if entry.is_dir():
            own = read_owned_manifest(entry)
            found = (
                _foreign_in(entry, _listing(own), entry)
                if own is not None
                else _foreign_in(entry, listed, base)
            )
            if found is not None:
                return found
        elif entry.relative_to(base).as_posix() not in listed:
            return entry
    return None


def first_foreign(folder: Path) -> Path | None:
    """The first file under ``folder`` that carescale did not write, or None.

    ``folder`` is carescale's when its manifest lists every file in it, except files in a
    subfolder that has a carescale manifest of its own (then that subfolder's manifest must
    list them). Symbolic links are always foreign (never followed). A folder without a
    carescale manifest is foreign as a whole (``folder`` itself is returned).
    """
    if folder.is_symlink() or not folder.is_dir():
        return folder
    own = read_owned_manifest(folder)
    if own is None:
        return folder
    return _foreign_in(folder, _listing(own), folder)


def _refuse_control_characters(path: Path, option: str) -> None:
    """Control characters in a path are a mistake (and would reach the terminal)."""
    if not str(path).isprintable():
        raise ResultsError(
            f"{option} {show(str(path))} contains a control character; allowed: printable "
            "characters only."
        )


def _protected(path: Path) -> str:
    """Why ``path`` may never be replaced ('' if it may be)."""
    target = path.resolve()
    cwd = Path.cwd().resolve()
    if target == cwd:
        return "it is the current folder"
    if target in cwd.parents:
        return "it contains the current folder"
    if target == Path.home().resolve():
        return "it is the home folder"
    if target == Path(target.anchor):
        return "it is the root of the file system"
    return ""


def check_target(out: Path, overwrite: bool, option: str = "--out") -> Path:
    """Check, before any work, that a results folder may be written at ``out``.

    Refuses a missing parent folder (naming it), a parent that is a file, an existing file,
    an existing folder without ``--overwrite``, and with ``--overwrite`` any folder that is
    protected or not carescale's (naming its first foreign file).
    """
    shown = show(str(out))
    _refuse_control_characters(out, option)
    parent = out.parent if str(out.parent) else Path(".")
    for above in [parent, *parent.parents]:
        if above.exists() and not above.is_dir():
            raise ResultsError(
                f"cannot write results to {option} {shown}: {show(str(above))} is a file, "
                "not a folder."
            )
    if not parent.is_dir():
        raise ResultsError(
            f"cannot write results to {option} {shown}: its parent folder "
            f"{show(str(parent))} does not exist; create it first."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ResultsError(
            f"cannot write results to {option} {shown}: folder {show(str(parent))} is not writable."
        )
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise ResultsError(
            f"cannot write results to {option} {shown}: it is a file (or a link), and "
            "carescale writes a results folder there; choose another path."
        )
    reason = _protected(out)
    if reason:
        raise ResultsError(
            f"cannot write results to {option} {shown}: {reason}, which carescale never "
            "replaces; choose a new folder."
        )
    if out.exists():
        if not overwrite:
            raise ResultsError(
                f"results folder {shown} already exists; choose another {option} or pass "
                "--overwrite."
            )
        foreign = first_foreign(out)
        if foreign == out:
            raise ResultsError(
                f"refusing to replace {shown}: it is not a carescale results folder (it has "
                f"no carescale {MANIFEST}); choose another {option}."
            )
        if foreign is not None:
            raise ResultsError(
                f"refusing to replace {shown}: it holds {show(str(foreign))}, which carescale "
                f"did not write; choose another {option}."
            )
    return out


# ----------------------------------------------------------------------------- staging


def _process_start(pid: int) -> str:
    """The kernel's start time of a process (Linux), or '' where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    # a reused process id belongs to a process that started at another time
    now = _process_start(pid)
    return not (started and now and now != started)


def remove_stale_staging(parent: Path) -> list[Path]:
    """Remove abandoned staging folders in ``parent``; returns what was removed.

    A staging folder is removed only when its record says carescale made it and either its
    process is no longer alive on this host or it is more than 24 hours old. Another host's
    live staging folder is left alone, and so is anything without a readable record.
    """
    removed: list[Path] = []
    try:
        candidates = [p for p in parent.iterdir() if p.name.startswith(STAGE_PREFIX)]
    except OSError:
        return removed
    host = socket.gethostname()
    for stage in candidates:
        if stage.is_symlink() or not stage.is_dir():
            continue
        try:
            record = json.loads((stage / STAGE_RECORD).read_text(encoding="utf-8"))
            ours = record.get("tool") == TOOL
            pid, started, since = int(record["pid"]), str(record["started"]), record["since"]
            age = time.time() - float(since)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
        if not ours:
            continue
        dead_here = record.get("host") == host and not _alive(pid, started)
        if dead_here or age > STALE_SECONDS:
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
    return removed


def _mkdir(path: Path) -> None:
    """A folder with ordinary permissions (0o777 less the umask)."""
    path.mkdir(mode=0o777)


class Staging:
    """A results folder being written: ``path`` now, ``target`` once ``commit`` succeeds.

    Use as a context manager::

        with Staging(out, "run", overwrite) as stage:
            df.to_parquet(stage.path / "activity.parquet")
            stage.commit({"seed": 1, ...})

    Leaving the block without ``commit`` (an error, SIGINT or SIGTERM) removes everything
    written and keeps any folder that was to be replaced.
    """

    def __init__(self, target: Path | str, kind: str, overwrite: bool = False) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown folder kind {kind!r}")
        self.target = Path(target)
        self.kind = kind
        self.overwrite = overwrite
        self.stage: Path | None = None
        self.committed = False

    @property
    def path(self) -> Path:
        """The folder to write into (inside the staging folder)."""
        if self.stage is None:
            raise RuntimeError("staging folder not created; use 'with Staging(...)'")
        return self.stage / "new"

    def __enter__(self) -> Staging:
        check_target(self.target, self.overwrite)
        parent = self.target.parent if str(self.target.parent) else Path(".")
        remove_stale_staging(parent)
        stage = parent / f"{STAGE_PREFIX}{self.target.name[:40]}-{uuid.uuid4().hex[:12]}"
        try:
            _mkdir(stage)
        except OSError as exc:
            raise ResultsError(
                f"cannot write results to {show(str(self.target))}: folder "
                f"{show(str(parent))} is not writable ({exc.strerror})."
            ) from None
        self.stage = stage
        try:
            record = {
                "tool": TOOL,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": _process_start(os.getpid()),
                "since": time.time(),
                "target": str(self.target),
            }
            (stage / STAGE_RECORD).write_text(json.dumps(record), encoding="utf-8")
            _mkdir(self.path)
        except OSError as exc:
            self._discard()
            raise ResultsError(
                f"cannot write results to {show(str(self.target))}: {exc.strerror}."
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.committed:
            self._discard()

    def _discard(self) -> None:
        if self.stage is None:
            return
        old = self.stage / "old"
        if old.is_dir() and not self.target.exists():
            os.replace(old, self.target)  # a replacement was interrupted: put it back
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage = None

    def files(self) -> list[str]:
        """Every file written so far, relative to the folder (sorted, '/'-separated)."""
        root = self.path
        return sorted(
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.is_file() and p.name != MANIFEST
        )

    def commit(self, manifest: Mapping[str, Any], schema_version: int) -> Path:
        """Write the manifest (listing every file) and move the folder into place."""
        full = {
            **manifest,
            "tool": TOOL,
            "kind": self.kind,
            "schema_version": schema_version,
            "files": self.files(),
            "complete": True,
        }
        text = json.dumps(full, indent=2, default=str)
        (self.path / MANIFEST).write_text(text, encoding="utf-8")
        target = self.target
        if target.exists() or target.is_symlink():
            # the folder may have changed while we worked: check ownership again
            check_target(target, self.overwrite)
            assert self.stage is not None
            os.replace(target, self.stage / "old")
        os.replace(self.path, target)
        self.committed = True
        assert self.stage is not None
        shutil.rmtree(self.stage, ignore_errors=True)
        self.stage = None
        return target


# ----------------------------------------------------------------------------- files


def check_output_file(
    path: Path,
    option: str,
    overwrite: bool = False,
    signature: str | None = None,
    suffixes: Sequence[str] = (),
) -> Path:
    """Check, before any work, that a single output file may be written at ``path``.

    Refuses a folder, a missing parent, a parent that is a file and (unless ``overwrite``)
    an existing file. With ``overwrite``, an existing file is replaced only when it begins
    with ``signature`` (the first line carescale writes in such a file).
    """
    shown = show(str(path))
    _refuse_control_characters(path, option)
    if path.is_dir():
        raise ResultsError(
            f"{option} {shown} is a folder; give a file path such as "
            f"{show(str(path / ('out' + (suffixes[0] if suffixes else ''))))}."
        )
    if suffixes and path.suffix.lower() not in suffixes:
        raise ResultsError(f"{option} {shown} must end with {' or '.join(suffixes)}.")
    parent = path.parent if str(path.parent) else Path(".")
    for above in [parent, *parent.parents]:
        if above.exists() and not above.is_dir():
            raise ResultsError(
                f"cannot write {option} {shown}: {show(str(above))} is a file, not a folder."
            )
    if not parent.is_dir():
        raise ResultsError(
            f"cannot write {option} {shown}: its folder {show(str(parent))} does not exist; "
            "create it first."
        )
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise ResultsError(
                f"{option} {shown} already exists; choose another file or pass --overwrite."
            )
        if path.is_symlink() or not _starts_with(path, signature):
            raise ResultsError(
                f"refusing to replace {option} {shown}: it was not written by carescale; "
                "choose another file."
            )
    if not os.access(parent, os.W_OK):
        raise ResultsError(f"cannot write {option} {shown}: folder is not writable.")
    return path


def _starts_with(path: Path, signature: str | None) -> bool:
    if signature is None:
        return False
    try:
        with path.open("r", encoding="utf-8") as fh:
            head = fh.read(len(signature))
    except (OSError, UnicodeDecodeError):
        return False
    return head == signature


@contextlib.contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """A temporary file beside ``path`` that replaces it only if the block succeeds."""
    tmp = path.parent / f".{path.name[:60]}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


__all__ = [
    "KINDS",
    "MANIFEST",
    "TOOL",
    "Staging",
    "check_output_file",
    "check_target",
    "default_folder",
    "first_foreign",
    "remove_stale_staging",
    "safe_component",
    "staged_file",
    "write_text_file",
]


def write_text_file(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (a fault leaves the old file as it was)."""
    with staged_file(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
