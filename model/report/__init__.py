"""``carescale report``: a run or compare folder as a page, a Markdown file and a workbook.

This package sits outside the model core: the core never imports it (nor matplotlib). It
reads a results folder and writes, by default into ``RESULTS_DIR/report/``, a folder of kind
``report`` (``model.outputs``: staged, renamed into place when complete, with its own
manifest)::

    report.html     one self-contained page (figures embedded as base64 PNG; prints cleanly)
    report.md       the same content, figures beside it
    report.xlsx     one sheet per table, real numbers, units in the headers, frozen headers
    figures/        every figure as PNG and SVG
    manifest.json   kind "report": the source folder, formats, figures

``docs/report.md`` describes the report as a reader sees it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model import __version__
from model.errors import ResultsError, show
from model.outputs import Staging, check_target, read_owned_manifest

#: what ``--format`` accepts, in the order they are written
FORMATS = ("html", "md", "xlsx")
#: the report folder's name inside the results folder
REPORT_FOLDER = "report"
#: 1: first version
SCHEMA_VERSION = 1


def parse_formats(text: str) -> list[str]:
    """``"html,md"`` -> ``["html", "md"]``, or one clear error naming what is allowed."""
    chosen = [part.strip().lower() for part in text.split(",") if part.strip()]
    bad = [part for part in chosen if part not in FORMATS]
    if bad or not chosen:
        raise ResultsError(
            f"--format {show(text)} is not a list of formats; allowed: one or more of "
            f"{', '.join(FORMATS)}, separated by commas (e.g. --format html,xlsx)."
        )
    return [f for f in FORMATS if f in chosen]


def check_report_target(results_dir: Path, out: Path, overwrite: bool) -> Path:
    """Refuse, before any work, an output folder that would replace anything but an earlier
    report (or the results themselves)."""
    source = results_dir.resolve()
    target = out.resolve()
    if target == source or target in source.parents:
        raise ResultsError(
            f"--out {show(str(out))} is the results folder or contains it; a report never "
            "replaces its results, so choose a new folder (default RESULTS_DIR/report)."
        )
    if out.exists() and overwrite and not out.is_symlink() and out.is_dir():
        own = read_owned_manifest(out)
        if own is not None and own.get("kind") != "report":
            raise ResultsError(
                f"refusing to replace {show(str(out))}: it is a carescale {show(own.get('kind'))} "
                "folder, and --overwrite replaces only an earlier report; choose another --out."
            )
    return check_target(out, overwrite)


def check_inputs(results_dir: Path, out: Path | str | None, overwrite: bool) -> Path:
    """Check the results folder and the report folder before any work; returns the report
    folder (default ``RESULTS_DIR/report``)."""
    from model.report.content import refuse_foreign

    refuse_foreign(results_dir)
    target = Path(out) if out is not None else results_dir / REPORT_FOLDER
    return check_report_target(results_dir, target, overwrite)


def _png_svg(fig: Any) -> tuple[bytes, bytes]:
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return png.getvalue(), svg.getvalue()


def build_report(
    results_dir: Path | str,
    formats: Sequence[str] = FORMATS,
    out: Path | str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the report of a run or compare folder; returns the report folder.

    Checks everything first (the results folder is carescale's run or compare folder; the
    output folder is new, or an earlier report with ``overwrite``), then draws and writes
    under a staging folder that is renamed into place only when every file is written.
    """
    from model.report.content import compare_content, load, run_content

    results_dir = Path(results_dir)
    target = check_inputs(results_dir, out, overwrite)
    formats = [f for f in FORMATS if f in formats]
    results = load(results_dir)
    title, lead, sections = (
        compare_content(results) if results.kind == "compare" else run_content(results)
    )

    import matplotlib

    from model.report import figures as figs
    from model.report.render import write_html, write_markdown, write_xlsx

    drawn: dict[str, tuple[bytes, str]] = {}
    with matplotlib.rc_context({"svg.hashsalt": "carescale", "font.size": 9}):
        with Staging(target, "report", overwrite) as stage:
            (stage.path / "figures").mkdir()
            for name, (fig, caption) in figs.draw(results).items():
                png, svg = _png_svg(fig)
                figs.close(fig)
                (stage.path / "figures" / f"{name}.png").write_bytes(png)
                (stage.path / "figures" / f"{name}.svg").write_bytes(svg)
                drawn[name] = (png, caption)
            footer = (
                f"Written by carescale {__version__} (carescale report) from "
                f"{results_dir.name}/ (a {results.kind} folder). Figures and tables: "
                "mean across replications with 95 % intervals (stochastic uncertainty only)."
            )
            for section in sections:
                section.figures = [f for f in section.figures if f in drawn]
            if "html" in formats:
                write_html(stage.path / "report.html", title, lead, sections, drawn, footer)
            if "md" in formats:
                captions = {k: v[1] for k, v in drawn.items()}
                write_markdown(stage.path / "report.md", title, lead, sections, captions, footer)
            if "xlsx" in formats:
                tables = [t for s in sections for t in s.tables]
                write_xlsx(stage.path / "report.xlsx", tables, title)
            manifest = {
                "title": title,
                "source": {
                    "folder": str(results_dir),
                    "kind": results.kind,
                    "model_version": results.manifest.get("model_version"),
                },
                "formats": formats,
                "figures": sorted(drawn),
                "model_version": __version__,
            }
            return stage.commit(manifest, SCHEMA_VERSION)


__all__ = [
    "FORMATS",
    "REPORT_FOLDER",
    "SCHEMA_VERSION",
    "build_report",
    "check_inputs",
    "parse_formats",
]
