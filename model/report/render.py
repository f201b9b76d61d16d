"""Writers of the report: one self-contained HTML page, Markdown beside its figures, and an
Excel workbook of real numbers (openpyxl).

Each quantity with an interval is three columns of a table (``x``, ``x 95 % low``,
``x 95 % high``); the page writers join them into "mean (low to high)", the workbook keeps
them as numbers.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from model.report.content import HIGH, LOW, Section, Table

#: Excel allows sheet names of at most this many characters
SHEET_CHARS = 31


# ----------------------------------------------------------------------------- numbers as text


def _decimals(column: str, unit: str = "") -> str:
    """A format for a number in column ``column`` (or of ``unit`` in a summary row)."""
    text = f"{column} {unit}".lower()
    if column == "value":  # register values and manifest fields: any magnitude
        return ".6g"
    if unit in ("ratio",) or "ratio" in column:
        return ",.2f"
    if unit == "share" or "share" in text or "utilisation" in text:
        return ".0%"
    if unit == "year" or column == "year":
        return "d"
    if "gbp" in text and "per 1,000" not in text:
        return ",.0f"
    if "per 1,000" in text or "(days)" in text or "qaly" in text:
        return ",.1f"
    return ",.0f"


def _num(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if fmt == "d":
            return str(int(value))
        text = format(value, fmt)
        return text.lstrip("-") if text.strip("-0.,%") == "" else text
    return str(value)


def page_frame(table: Table) -> pd.DataFrame:
    """The table as text: interval triples joined, numbers formatted."""
    frame = table.frame
    cols = list(frame.columns)
    out: dict[str, list[str]] = {}
    units = frame["unit"].astype(str).tolist() if "unit" in frame.columns else None
    for col in cols:
        if col.endswith((LOW, HIGH)):
            continue
        values = frame[col].tolist()
        has_interval = col + LOW in frame.columns and col + HIGH in frame.columns
        texts = []
        for i, v in enumerate(values):
            fmt = _decimals(col, units[i] if units else "")
            text = _num(v, fmt)
            if has_interval and text:
                low, high = frame[col + LOW].iloc[i], frame[col + HIGH].iloc[i]
                if not (pd.isna(low) or pd.isna(high)):
                    text = f"{text} ({_num(low, fmt)} to {_num(high, fmt)})"
            texts.append(text)
        label = f"{col} (95 % interval)" if has_interval else col
        out[label] = texts
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- HTML

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 72rem; margin: 2rem auto; padding: 0 1.2rem; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #34495e; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2.2rem; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.02rem; margin-bottom: .3rem; }
p.note { color: #555; font-size: .88rem; margin-top: .2rem; }
table { border-collapse: collapse; font-size: .82rem; margin: .4rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .2rem .45rem; vertical-align: top; }
th { background: #eef1f4; text-align: left; }
td.n { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 1.6rem; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .88rem; color: #444; }
pre { background: #f6f8fa; padding: .6rem; font-size: .78rem; overflow-x: auto;
      white-space: pre-wrap; }
nav ol { columns: 2; font-size: .9rem; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { page-break-before: always; }
  h2.first { page-break-before: avoid; }
  table, figure, pre { page-break-inside: avoid; }
  figure img { max-height: 22cm; border: none; }
  a { color: inherit; text-decoration: none; }
}
"""


def _is_number_text(text: str) -> bool:
    head = text.split(" (")[0].replace(",", "").replace("%", "")
    try:
        float(head)
    except ValueError:
        return False
    return True


def _html_table(table: Table) -> str:
    frame = page_frame(table)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = "".join(
            f'<td class="n">{html.escape(v)}</td>'
            if _is_number_text(v)
            else f"<td>{html.escape(v)}</td>"
            for v in map(str, record)
        )
        rows.append(f"<tr>{cells}</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (
        f"<h3>{html.escape(table.title)}</h3>{note}\n<table>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    )


def _anchor(title: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in title.lower()).strip("-")


def write_html(
    path: Path,
    title: str,
    lead: Sequence[str],
    sections: Sequence[Section],
    figures: Mapping[str, tuple[bytes, str]],
    footer: str,
) -> None:
    """One self-contained page: figures embedded as base64 PNG, no external assets."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f"<p>{html.escape(p)}</p>" for p in lead),
        "<nav><ol>",
        *(f'<li><a href="#{_anchor(s.title)}">{html.escape(s.title)}</a></li>' for s in sections),
        "</ol></nav>",
    ]
    for i, section in enumerate(sections):
        cls = ' class="first"' if i == 0 else ""
        parts.append(f'<h2 id="{_anchor(section.title)}"{cls}>{html.escape(section.title)}</h2>')
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        for name in section.figures:
            if name not in figures:
                continue
            png, caption = figures[name]
            data = base64.b64encode(png).decode("ascii")
            parts.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        for table in section.tables:
            if table.page:
                parts.append(_html_table(table))
        for heading, text in section.blocks:
            parts.append(f"<h3>{html.escape(heading)}</h3><pre>{html.escape(text)}</pre>")
    parts.append(f'<p class="note">{html.escape(footer)}</p></body></html>')
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------- Markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    frame = page_frame(table)
    cols = [str(c) for c in frame.columns]
    lines = [f"### {table.title}", ""]
    if table.note:
        lines += [f"*{table.note}*", ""]
    lines.append("| " + " | ".join(_md_cell(c) for c in cols) + " |")
    aligns = [
        "---:"
        if len(frame) and all(_is_number_text(str(v)) or not str(v) for v in frame[c])
        else "---"
        for c in frame.columns
    ]
    lines.append("| " + " | ".join(aligns) + " |")
    for record in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_cell(str(v)) for v in record) + " |")
    return "\n".join(lines)


def write_markdown(
    path: Path,
    title: str,
    lead: Sequence[str],
    sections: Sequence[Section],
    figures: Mapping[str, str],
    footer: str,
) -> None:
    """The same content as the page; figures are ``figures/<name>.png`` beside it."""
    parts = [f"# {title}", "", *(x for p in lead for x in (p, ""))]
    parts += ["Contents:", ""]
    parts += [f"{i}. {s.title}" for i, s in enumerate(sections, start=1)]
    parts.append("")
    for section in sections:
        parts += [f"## {section.title}", ""]
        parts += [x for p in section.paragraphs for x in (p, "")]
        for name in section.figures:
            if name in figures:
                parts += [f"![{figures[name]}](figures/{name}.png)", "", f"*{figures[name]}*", ""]
        for table in section.tables:
            if table.page:
                parts += [_md_table(table), ""]
        for heading, text in section.blocks:
            parts += [f"### {heading}", "", "```toml", text.rstrip("\n"), "```", ""]
    parts += ["---", "", footer, ""]
    path.write_text("\n".join(parts), encoding="utf-8")


# ----------------------------------------------------------------------------- Excel


def _excel_format(column: str, unit: str = "") -> str:
    fmt = _decimals(column, unit)
    return {
        ",.2f": "#,##0.00",
        ".0%": "0.0%",
        "d": "0",
        ",.1f": "#,##0.0",
        ",.0f": "#,##0",
        ".6g": "General",
    }[fmt]


def _sheet_names(tables: Sequence[Table]) -> list[str]:
    names: list[str] = []
    for table in tables:
        base = table.sheet[:SHEET_CHARS]
        name, i = base, 2
        while name.lower() in (n.lower() for n in names):
            suffix = f" {i}"
            name = base[: SHEET_CHARS - len(suffix)] + suffix
            i += 1
        names.append(name)
    return names


def write_xlsx(path: Path, tables: Sequence[Table], title: str) -> None:
    """One sheet per table: title (row 1), note (row 2), header (row 3, frozen with the rows
    above it), then the rows; numbers as numbers with number formats, units in the headers."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.title = title
    wb.properties.creator = "carescale"
    header_fill = PatternFill("solid", fgColor="EEF1F4")
    for table, name in zip(tables, _sheet_names(tables), strict=True):
        ws = wb.create_sheet(name)
        frame = table.frame
        ws.cell(row=1, column=1, value=table.title).font = Font(bold=True, size=12)
        if table.note:
            ws.cell(row=2, column=1, value=table.note).font = Font(italic=True, color="555555")
        cols = [str(c) for c in frame.columns]
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=3, column=j, value=col)
            cell.font = Font(bold=True)
            cell.fill = header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        units = frame["unit"].astype(str).tolist() if "unit" in frame.columns else None
        numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
        for i, record in enumerate(frame.itertuples(index=False)):
            for j, value in enumerate(record, start=1):
                col = cols[j - 1]
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    continue
                if hasattr(value, "item"):
                    value = value.item()  # numpy scalar -> Python number
                cell = ws.cell(row=4 + i, column=j, value=value)
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    if numeric[j - 1] or col == "value":
                        cell.number_format = _excel_format(col, units[i] if units else "")
        for j, col in enumerate(cols, start=1):
            longest = max([len(col) * 0.8, *(len(str(v)) for v in frame[col].head(200))], default=8)
            ws.column_dimensions[get_column_letter(j)].width = max(9.0, min(60.0, longest + 2))
        ws.row_dimensions[3].height = 32
        ws.freeze_panes = (
            "B4" if cols and cols[0] in ("scenario", "run", "key", "quantity") else "A4"
        )
        if len(frame):
            ws.auto_filter.ref = f"A3:{get_column_letter(len(cols))}{3 + len(frame)}"
    wb.save(path)


__all__ = ["page_frame", "write_html", "write_markdown", "write_xlsx"]
