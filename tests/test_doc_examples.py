"""Every fenced ``bash`` and ``python`` example in README.md and docs/*.md runs, at a small size.

Which blocks
    Fences whose info string is ``bash`` or ``python`` in README.md and docs/*.md (not
    docs/parameters.md, which is generated from the register and has no examples). A block is
    *not run* only when the line immediately before its opening fence is
    ``<!-- not-run: REASON -->`` with a non-empty reason; every other such block runs. ``sh``,
    ``shell``, ``console``, ``py`` and similar fences are refused: use ``bash`` or ``python``
    for what should run and ``text`` (or ``toml``) for output and files. A line
    ``<!-- file: PATH -->`` immediately before a fence of any language writes the block's
    text to PATH in the workspace when the run reaches it (the user guide's example scenario
    is saved that way, as the guide tells the reader to).

Where
    Each page runs in its own temporary workspace holding a copy of ``scenarios/``, empty
    ``docs/`` and ``results/`` folders, and ``my_register/`` (a copy of the register files,
    for the ``carescale parameters --files my_register/*.toml`` example). The blocks of a page
    run in page order, so a later block reads what an earlier one wrote (a results folder, a
    scenario file).

How
    One child process per page, started with ``sys.executable`` (the Python running the
    tests), runs the page's steps and stops at the first failure:

    - a bash block is split into commands (lines joined at a trailing backslash; comment
      lines skipped). ``carescale ARGS`` calls ``model.cli.main(ARGS)`` in the child, the
      function behind the console script (one process per page saves about a second of
      imports per command); ``*`` patterns in ARGS are expanded in the workspace as the shell
      would. Any other command runs in ``bash``, where ``carescale`` and ``python`` are
      functions calling ``sys.executable``;
    - a python block is executed with ``exec`` in a fresh namespace.

Rewriting (sizes), so that the module takes well under half a minute
    - ``carescale run``: ``--population`` 3000, ``--years`` 1, ``--replications`` 1, each
      replaced or added (the scenario's own ``[run]`` would be 100,000 people for five years);
      ``--workers`` and everything else are kept;
    - ``carescale compare``: ``--population`` 3000, ``--years`` 1, ``--replications`` 2
      (paired intervals need two), each replaced or added;
    - ``carescale validate population``: ``--size`` 3000 (replaced or added);
    - ``carescale validate baseline``: ``--population`` 3000 (replaced or added), ``--years``
      1 (replaced);
    - ``carescale calibrate baseline``: ``--size`` and ``--engine-size`` 3000 (replaced or
      added);
    - python: the keyword arguments ``population=N``, ``years=N`` and ``replications=N``
      (integer literals) become ``population=3_000``, ``years=1`` and ``replications=1``.

Exit codes
    0, except that ``carescale validate`` may also exit with 1: at 3,000 people some targets
    fail, as expected. A failure reports the page, the line, the command as written and as
    run, and the tail of its output.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "parameters.md"),
]
RUN_LANGUAGES = {"bash", "python"}
REFUSED_LANGUAGES = {"sh", "shell", "console", "zsh", "py", "python3", "pycon", "ipython"}
NOT_RUN = re.compile(r"^<!-- not-run:(?P<reason>.*?)-->$")
FILE = re.compile(r"^<!-- file: (?P<path>\S+) -->$")
SMALL = 3_000
TIMEOUT_SECONDS = 180

#: (subcommand words, option, value, add when missing)
SIZE_RULES: dict[tuple[str, ...], list[tuple[str, str, bool]]] = {
    ("run",): [
        ("--population", str(SMALL), True),
        ("--years", "1", True),
        ("--replications", "1", True),
    ],
    ("compare",): [
        ("--population", str(SMALL), True),
        ("--years", "1", True),
        ("--replications", "2", True),
    ],
    ("validate", "population"): [("--size", str(SMALL), True)],
    ("validate", "baseline"): [("--population", str(SMALL), True), ("--years", "1", False)],
    ("calibrate", "baseline"): [("--size", str(SMALL), True), ("--engine-size", str(SMALL), True)],
}
PYTHON_SIZES = re.compile(r"\b(population|years|replications)(\s*=\s*)[0-9][0-9_]*(?![0-9_])")
PYTHON_SMALL = {"population": "3_000", "years": "1", "replications": "1"}


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    before: str  # the line immediately before the opening fence

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def not_run_reason(self) -> str | None:
        match = NOT_RUN.match(self.before.strip())
        return match.group("reason").strip() if match else None


def fences(page: Path) -> list[Fence]:
    """Every fenced block of ``page``, in order."""
    lines = page.read_text(encoding="utf-8").split("\n")
    out = []
    i = 0
    while i < len(lines):
        stripped = lines[i].lstrip()
        if stripped.startswith("```"):
            indent = len(lines[i]) - len(stripped)
            ticks = len(stripped) - len(stripped.lstrip("`"))
            language = stripped[ticks:].strip().split(" ")[0] if stripped[ticks:].strip() else ""
            j = i + 1
            while j < len(lines) and not (
                lines[j].strip().startswith("`" * ticks) and not lines[j].strip().strip("`")
            ):
                j += 1
            body = [line[indent:] if line[:indent].isspace() else line for line in lines[i + 1 : j]]
            before = lines[i - 1] if i > 0 else ""
            out.append(Fence(page, i + 1, language, "\n".join(body) + "\n", before))
            i = j + 1
        else:
            i += 1
    return out


def commands(fence: Fence) -> list[tuple[int, str]]:
    """The commands of a bash block with their line numbers (continuations joined)."""
    out: list[tuple[int, str]] = []
    pending: list[str] = []
    start = 0
    for offset, line in enumerate(fence.text.split("\n")):
        if not pending and (not line.strip() or line.strip().startswith("#")):
            continue
        if not pending:
            start = fence.line + 1 + offset
        if line.rstrip().endswith("\\"):
            pending.append(line.rstrip()[:-1])
            continue
        pending.append(line)
        out.append((start, " ".join(part.strip() for part in pending)))
        pending = []
    if pending:
        out.append((start, " ".join(part.strip() for part in pending)))
    return out


def _set_option(args: list[str], option: str, value: str, add: bool) -> list[str]:
    out, found, skip = [], False, False
    for k, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == option and k + 1 < len(args):
            out += [option, value]
            found, skip = True, True
        elif arg.startswith(option + "="):
            out.append(f"{option}={value}")
            found = True
        else:
            out.append(arg)
    if not found and add:
        out += [option, value]
    return out


def small_carescale(args: list[str]) -> list[str]:
    """A ``carescale`` command line (without the program name) rewritten to a small size."""
    for words, rules in SIZE_RULES.items():
        if tuple(args[: len(words)]) == words:
            for option, value, add in rules:
                args = _set_option(args, option, value, add)
    return args


def small_python(code: str) -> str:
    """A python block with its population, years and replications made small."""
    return PYTHON_SIZES.sub(lambda m: m.group(1) + m.group(2) + PYTHON_SMALL[m.group(1)], code)


def steps(page: Path) -> list[dict[str, Any]]:
    """What the child process runs for ``page``, in order."""
    out: list[dict[str, Any]] = []
    for fence in fences(page):
        target = FILE.match(fence.before.strip())
        if target:
            out.append(
                {"kind": "file", "where": fence.where, "path": target["path"], "text": fence.text}
            )
            continue
        if fence.language not in RUN_LANGUAGES or fence.not_run_reason is not None:
            continue
        if fence.language == "python":
            out.append(
                {
                    "kind": "python",
                    "where": fence.where,
                    "shown": fence.text,
                    "code": small_python(fence.text),
                }
            )
            continue
        for line, command in commands(fence):
            where = f"{page.relative_to(ROOT)}:{line}"
            try:
                words = shlex.split(command, comments=True)
            except ValueError:
                words = []
            if words and words[0] == "carescale":
                args = small_carescale(words[1:])
                allow = [0, 1] if args[:1] == ["validate"] else [0]
                out.append(
                    {
                        "kind": "carescale",
                        "where": where,
                        "shown": command,
                        "args": args,
                        "allow": allow,
                    }
                )
            else:
                out.append({"kind": "shell", "where": where, "shown": command, "command": command})
    return out


RUNNER = r"""
import contextlib, glob, io, json, os, subprocess, sys, traceback
spec = json.load(open(sys.argv[1], encoding="utf-8"))
os.chdir(spec["workspace"])
from model.cli import main
results = []
PRELUDE = 'set -o pipefail; carescale() { "$PY" -m model "$@"; }; python() { "$PY" "$@"; }; '
for step in spec["steps"]:
    out, err, code = io.StringIO(), io.StringIO(), 0
    if step["kind"] == "file":
        os.makedirs(os.path.dirname(step["path"]) or ".", exist_ok=True)
        with open(step["path"], "w", encoding="utf-8") as f:
            f.write(step["text"])
    elif step["kind"] == "carescale":
        args = []
        for a in step["args"]:
            matches = sorted(glob.glob(a)) if any(c in a for c in "*?[") else []
            args += matches or [a]
        step["ran"] = "carescale " + " ".join(args)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException:
                traceback.print_exc()
                code = -1
    elif step["kind"] == "python":
        step["ran"] = step["code"]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                exec(compile(step["code"], step["where"], "exec"), {"__name__": "__main__"})
            except BaseException:
                traceback.print_exc()
                code = -1
    else:
        step["ran"] = step["command"]
        env = dict(os.environ, PY=sys.executable)
        done = subprocess.run(["bash", "-c", PRELUDE + step["command"]], capture_output=True,
                              text=True, env=env)
        out.write(done.stdout)
        err.write(done.stderr)
        code = done.returncode
    ok = code in step.get("allow", [0])
    results.append({"where": step["where"], "ok": ok, "code": code, "ran": step.get("ran", ""),
                    "stdout": out.getvalue()[-1500:], "stderr": err.getvalue()[-3000:]})
    if not ok:
        break
json.dump(results, open(spec["results"], "w", encoding="utf-8"))
"""


def _workspace(tmp_path: Path) -> Path:
    from model.register import default_parameter_files

    ws = tmp_path / "workspace"
    shutil.copytree(ROOT / "scenarios", ws / "scenarios")
    for folder in ("docs", "results", "my_register"):
        (ws / folder).mkdir()
    for path in default_parameter_files():
        shutil.copy(path, ws / "my_register" / path.name)
    return ws


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


RUNNABLE = [p for p in PAGES if steps(p)]


@pytest.mark.parametrize("page", RUNNABLE, ids=[p.relative_to(ROOT).as_posix() for p in RUNNABLE])
def test_examples_run(page: Path, tmp_path: Path) -> None:
    import model

    todo = steps(page)
    spec = tmp_path / "spec.json"
    out = tmp_path / "results.json"
    ws = _workspace(tmp_path)
    spec.write_text(json.dumps({"workspace": str(ws), "steps": todo, "results": str(out)}))
    package_root = str(Path(model.__file__).resolve().parents[1])
    env = {"PYTHONPATH": package_root, "MPLBACKEND": "Agg", "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, str(spec)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env={**os.environ, **env},
        cwd=ws,
    )
    assert out.is_file(), (
        f"the example runner for {page.relative_to(ROOT)} crashed:\n{_tail(done.stderr, 30)}"
    )
    results = json.loads(out.read_text())
    for step, result in zip(todo, results, strict=False):
        if result["ok"]:
            continue
        shown = step.get("shown", step.get("path", ""))
        raise AssertionError(
            f"{result['where']}: example failed (exit code {result['code']})\n"
            f"as written: {shown.strip()}\n"
            f"as run:     {result['ran'].strip()[:2000]}\n"
            f"--- stderr (tail) ---\n{_tail(result['stderr'])}\n"
            f"--- stdout (tail) ---\n{_tail(result['stdout'], 8)}"
        )
    assert len(results) == len(todo), f"only {len(results)} of {len(todo)} steps ran"


def test_every_example_runs_or_says_why_not() -> None:
    """Runnable languages only; a not-run marker has a reason and sits before bash or python."""
    problems = []
    for page in PAGES:
        for fence in fences(page):
            reason = fence.not_run_reason
            if fence.language in REFUSED_LANGUAGES:
                problems.append(
                    f"{fence.where}: ```{fence.language} fence; use bash or python (run by "
                    "the tests) or text"
                )
            if reason is not None and fence.language not in RUN_LANGUAGES:
                problems.append(
                    f"{fence.where}: not-run marker before a ```{fence.language or '(none)'} "
                    "fence, which never runs"
                )
            if reason == "":
                problems.append(f"{fence.where}: not-run marker without a reason")
            if fence.language in RUN_LANGUAGES and not fence.text.strip():
                problems.append(f"{fence.where}: empty ```{fence.language} block")
        lines = page.read_text(encoding="utf-8").split("\n")
        for n, line in enumerate(lines[:-1], 1):
            marker = NOT_RUN.match(line.strip()) or FILE.match(line.strip())
            if marker and not lines[n].lstrip().startswith("```"):
                where = f"{page.relative_to(ROOT)}:{n}"
                problems.append(f"{where}: a marker must be on the line just before a fence")
    assert not problems, "\n".join(problems)


def test_rewriting_rules() -> None:
    """The size rules of the module docstring."""
    assert small_carescale(["run", "s.toml", "--population", "1,000,000", "--workers", "2"]) == [
        "run", "s.toml", "--population", "3000", "--workers", "2", "--years", "1",
        "--replications", "1",
    ]  # fmt: skip
    assert small_carescale(["compare", "b.toml", "s.toml", "--replications", "10"]) == [
        "compare", "b.toml", "s.toml", "--replications", "2", "--population", "3000",
        "--years", "1",
    ]  # fmt: skip
    assert small_carescale(["validate", "baseline", "--years=3"]) == [
        "validate", "baseline", "--years=1", "--population", "3000",
    ]  # fmt: skip
    assert small_carescale(["parameters", "--group", "demand"]) == [
        "parameters",
        "--group",
        "demand",
    ]
    code = "s.with_run(population=50_000, years=3)\nrun(replications=10)\nif years == 2: pass\n"
    assert small_python(code) == (
        "s.with_run(population=3_000, years=1)\nrun(replications=1)\nif years == 2: pass\n"
    )
    fence = Fence(ROOT / "README.md", 10, "bash", "a \\\n  --b  # c\n# skip\n\nd\n", "")
    assert commands(fence) == [(11, "a --b  # c"), (15, "d")]
