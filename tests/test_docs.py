"""Documentation that is generated from the code must not drift from it."""

from __future__ import annotations

import difflib
from pathlib import Path

from model.register import Register, register_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs"
REGENERATE = "carescale parameters --markdown docs/parameters.md"


def test_parameters_page_matches_the_register(register: Register) -> None:
    page = DOCS / "parameters.md"
    assert page.is_file(), f"docs/parameters.md is missing; generate it with `{REGENERATE}`."
    actual = page.read_text(encoding="utf-8")
    expected = register_markdown(register)
    if actual != expected:
        diff = "\n".join(
            difflib.unified_diff(
                actual.splitlines(),
                expected.splitlines(),
                "docs/parameters.md",
                "register",
                lineterm="",
                n=1,
            )
        )
        raise AssertionError(
            f"docs/parameters.md is stale; regenerate it with `{REGENERATE}`.\n{diff[:4000]}"
        )


def test_parameters_page_lists_every_key(register: Register) -> None:
    text = (DOCS / "parameters.md").read_text(encoding="utf-8")
    for group in register.groups():
        assert f"## {group}: {register.titles[group]}" in text
    missing = [p.key for p in register.values() if f"| `{p.key[len(p.group) + 1 :]}` |" not in text]
    assert not missing, missing
