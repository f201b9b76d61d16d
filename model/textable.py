"""Plain-text and Markdown renderings of small tables, for terminals and for pasting."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def _cells(df: pd.DataFrame, floatfmt: str) -> list[list[str]]:
    rows = []
    for rec in df.itertuples(index=False):
        row = []
        for v in rec:
            if isinstance(v, float):
                if pd.isna(v):
                    row.append("")
                elif abs(v) >= 10_000 and float(v).is_integer():
                    row.append(f"{v:,.0f}")
                else:
                    row.append(format(v, floatfmt))
            else:
                row.append(str(v))
        rows.append(row)
    return rows


def to_text(df: pd.DataFrame, floatfmt: str = ".4g", right: Sequence[str] = ()) -> str:
    """Aligned columns with a header rule; numbers right-aligned."""
    header = [str(c) for c in df.columns]
    rows = _cells(df, floatfmt)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) or c in right for c in df.columns]

    def fmt(row: list[str]) -> str:
        return "  ".join(
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    lines = [fmt(header), "  ".join("-" * w for w in widths)]
    lines += [fmt(r) for r in rows]
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table."""
    header = [str(c) for c in df.columns]
    rows = _cells(df, floatfmt)
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)
