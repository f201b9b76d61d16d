"""Documentation that is generated from the code must not drift from it.

- docs/parameters.md is the register as Markdown.
- Every figure that comes from running the model sits in a block written by docs/generate.py,
  whose results are recorded in docs/generated.json with a fingerprint of the code, register,
  data and scenarios. These tests never re-run the simulations: they check that every
  fingerprint is current and that every block is what its recorded results render to.
- Every source the register cites is findable from the repository: docs/references.md has an
  entry for it, and every "EVIDENCE §x" section cited exists in docs/evidence/EVIDENCE.md.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from model.register import Register, register_markdown

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REGENERATE = "carescale parameters --markdown docs/parameters.md --overwrite"


def _load_generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


GEN = _load_generate()


def _diff(actual: str, expected: str, label: str) -> str:
    lines = difflib.unified_diff(
        actual.splitlines(), expected.splitlines(), label, "expected", lineterm="", n=1
    )
    return "\n".join(lines)[:3000]


def test_parameters_page_matches_the_register(register: Register) -> None:
    page = DOCS / "parameters.md"
    assert page.is_file(), f"docs/parameters.md is missing; generate it with `{REGENERATE}`."
    actual = page.read_text(encoding="utf-8")
    expected = register_markdown(register)
    if actual != expected:
        raise AssertionError(
            f"docs/parameters.md is stale; regenerate it with `{REGENERATE}`.\n"
            + _diff(actual, expected, "docs/parameters.md")
        )


def test_parameters_page_lists_every_key(register: Register) -> None:
    text = (DOCS / "parameters.md").read_text(encoding="utf-8")
    for group in register.groups():
        assert f"## {group}: {register.titles[group]}" in text
    missing = [p.key for p in register.values() if f"| `{p.key[len(p.group) + 1 :]}` |" not in text]
    assert not missing, missing


# ---------------------------------------------------------------------------- generated blocks


def _blocks() -> dict[tuple[str, str], str]:
    """The text of every generated block in docs/*.md, by (page, block name)."""
    found = {}
    for page in sorted(DOCS.glob("*.md")):
        for name, text in GEN.find_blocks(page.read_text(encoding="utf-8")).items():
            found[(page.name, name)] = text
    return found


def test_every_generated_block_is_known_and_present() -> None:
    expected = {(b.page, b.name) for b in GEN.BLOCKS}
    found = set(_blocks())
    assert not expected - found, f"blocks missing from the docs: {sorted(expected - found)}"
    assert not found - expected, (
        f"blocks that docs/generate.py does not know: {sorted(found - expected)}"
    )


def test_generated_blocks_are_current() -> None:
    """Every recorded fingerprint equals the current one (code, register, data, scenarios)."""
    record = GEN.load_record()
    digest = GEN.source_digest()
    stale = []
    for name, recipe in GEN.RECIPES.items():
        if recipe.cheap:
            continue  # recomputed by the next test
        entry = record["recipes"].get(name)
        if entry is None or "data" not in entry:
            stale.append(f"{name} (never generated)")
        elif entry["fingerprint"] != GEN.fingerprint(recipe.settings, digest):
            stale.append(name)
    if stale:
        blocks = sorted(
            b.name for b in GEN.BLOCKS if set(b.recipes) & {s.split()[0] for s in stale}
        )
        raise AssertionError(
            f"{GEN.STALE}\nstale recipes: {', '.join(stale)}\nblocks affected: {', '.join(blocks)}"
        )


def test_generated_blocks_match_their_recorded_results() -> None:
    """The text of each block is what docs/generated.json renders to (cheap recipes rerun)."""
    record = GEN.load_record()
    names = [n for n, r in GEN.RECIPES.items() if r.cheap or "data" in record["recipes"].get(n, {})]
    data = GEN.results(record, names)
    blocks = _blocks()
    problems = []
    for block in GEN.BLOCKS:
        if not set(block.recipes) <= set(data):
            problems.append(f"docs/{block.page}: {block.name} has no recorded results")
            continue
        expected = GEN.render_block(block, data)
        actual = blocks.get((block.page, block.name))
        if actual is not None and actual != expected:
            problems.append(
                f"docs/{block.page}: block {block.name} differs from what its recorded results "
                f"render to (edited by hand, or a renderer changed)\n"
                + _diff(actual, expected, f"docs/{block.page}")
            )
    assert not problems, f"{GEN.STALE}\n" + "\n".join(problems)


def test_inline_register_values_are_current() -> None:
    wrong = [
        f"{page.relative_to(ROOT)}: {marker} says {written!r}, the register gives {expected!r}"
        for page in GEN.pages_with_values()
        for marker, written, expected in GEN.inline_values(page.read_text(encoding="utf-8"))
        if written != expected
    ]
    assert not wrong, f"{GEN.STALE}\n" + "\n".join(wrong)


def test_hand_written_run_times_say_about() -> None:
    """Hand-written run times say "about"; exact ones appear only inside generated output."""
    outside = re.compile(r"(?<![\d.-])(?<!about )\b\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? seconds\b")
    for page in sorted(DOCS.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for name in GEN.find_blocks(text):
            start = text.index(GEN.open_marker(name))
            end = text.index(GEN.close_marker(name))
            text = text[:start] + text[end:]
        hits = [m.group(0) for m in outside.finditer(text)]
        assert not hits, f"docs/{page.name}: give run times as 'about N seconds': {hits}"


# ---------------------------------------------------------------------------- references


def test_every_register_source_has_a_reference(register: Register) -> None:
    sources = sorted({p.source for p in register.values()})
    cited, unmatched = GEN.classify_sources(sources, GEN.load_references())
    assert not unmatched, (
        "register sources that match no entry of docs/references.toml:\n" + "\n".join(unmatched)
    )
    page = (DOCS / "references.md").read_text(encoding="utf-8")
    missing = [s for s in sources if f"| {GEN._md_cell(s)} |" not in page]
    assert not missing, f"{GEN.STALE}\nsources missing from docs/references.md: {missing}"
    for ref in GEN.load_references():
        assert f'<a id="{ref["id"]}"></a>' in page, f"{GEN.STALE}: no entry {ref['id']}"
    used = {rid for ids in cited.values() for rid in ids}
    unused = [r["id"] for r in GEN.load_references() if r["id"] not in used]
    assert not unused, f"docs/references.toml entries that no register source cites: {unused}"


EVIDENCE = DOCS / "evidence" / "EVIDENCE.md"
SECTION = re.compile(r"§\s?(?P<section>\d+[a-z]?)(?: (?P<kind>item|gap) (?P<number>\d+))?")


def _evidence_sections() -> dict[str, str]:
    """The text of every numbered section of the evidence digest, by its number ("4a", "12")."""
    text = EVIDENCE.read_text(encoding="utf-8")
    heads = list(re.finditer(r"^#{2,3} (\d+[a-z]?)\. .*$", text, re.M))
    sections = {}
    for k, head in enumerate(heads):
        end = heads[k + 1].start() if k + 1 < len(heads) else len(text)
        sections[head.group(1)] = text[head.end() : end]
    return sections


def _evidence_citations(text: str) -> list[tuple[str, str | None, str | None]]:
    """Every "EVIDENCE §x[, §y item n]" citation in ``text``."""
    out = []
    for match in re.finditer(
        r"EVIDENCE((?:[ ,]+(?:and )?§\s?\d+[a-z]?(?: (?:item|gap) \d+)?)+)", text
    ):
        for m in SECTION.finditer(match.group(1)):
            out.append((m.group("section"), m.group("kind"), m.group("number")))
    return out


def _missing_sections(citations: list[tuple[str, str | None, str | None]]) -> list[str]:
    sections = _evidence_sections()
    missing = []
    for section, kind, number in citations:
        body = sections.get(section)
        if body is None and section.isdigit():  # §3 covers §3a-§3c
            body = "".join(v for k, v in sections.items() if re.fullmatch(section + "[a-z]?", k))
            body = body or None
        if body is None:
            missing.append(f"§{section}")
        elif kind and not re.search(rf"^{number}\. ", body, re.M):
            missing.append(f"§{section} {kind} {number}")
    return sorted(set(missing))


def test_every_evidence_section_the_register_cites_exists(register: Register) -> None:
    citations = []
    for p in register.values():
        citations += _evidence_citations(p.evidence) + _evidence_citations(p.source)
    assert citations, "expected the register to cite EVIDENCE sections"
    missing = _missing_sections(citations)
    assert not missing, f"sections cited by the register but absent from {EVIDENCE.name}: {missing}"


def test_every_evidence_section_the_docs_cite_exists() -> None:
    pages = [*DOCS.glob("*.md"), *DOCS.glob("sources/*.md"), ROOT / "README.md"]
    citations = [c for page in pages for c in _evidence_citations(page.read_text(encoding="utf-8"))]
    missing = _missing_sections(citations)
    assert not missing, f"sections cited by the docs but absent from {EVIDENCE.name}: {missing}"


@pytest.mark.parametrize(
    "page",
    [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_links_stay_inside_the_repository(page: Path) -> None:
    """Relative links resolve to files of the repository; nothing points outside it."""
    text = page.read_text(encoding="utf-8")
    outside = re.findall(r"(?<![\w£.])/(?:work|tmp|root|home/\w+)/[\w./-]+", text)
    assert not outside, f"{page.relative_to(ROOT)} names paths outside the repository: {outside}"
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists() or ROOT.resolve() not in (path, *path.parents):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_evidence_copy_is_dated() -> None:
    head = EVIDENCE.read_text(encoding="utf-8")[:1500]
    assert "copy of the carescale project's evidence digest" in head
    assert re.search(r"dated \d{1,2} \w+ \d{4}", head), "the copy should say the digest's date"
