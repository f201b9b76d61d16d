"""Plain-text and Markdown renderings of small tables, for terminals and for pasting."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

_GAP = "  "
#: ``to_text(width=...)`` wraps no column below this width (unless its cells are narrower)
MIN_WRAP_WIDTH = 8


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


#: a word longer than its column may break after one of these (register keys, paths)
_BREAK_AFTER = re.compile(r"(?<=[._/;,])")


def _pieces(word: str) -> list[str]:
    return [p for p in _BREAK_AFTER.split(word) if p]


def _wrap(text: str, width: int) -> list[str]:
    """``text`` on lines of at most ``width`` characters.

    Lines break between words; a word longer than ``width`` also breaks after ``.``, ``_``,
    ``/``, ``;`` or ``,`` (so a register key wraps at its dots), and one unbreakable piece
    longer than ``width`` overflows.
    """
    lines: list[str] = []
    line = ""
    for word in text.split():
        for i, piece in enumerate(_pieces(word) if len(word) > width else [word]):
            glue = " " if i == 0 and line else ""
            if line and len(line) + len(glue) + len(piece) > width:
                lines.append(line)
                line = piece
            else:
                line += glue + piece
    if line:
        lines.append(line)
    return lines or [""]


def _longest_word(text: str) -> int:
    return max((len(p) for w in text.split() for p in _pieces(w)), default=0)


def _fit(
    widths: list[int], columns: list[list[str]], wrappable: list[bool], width: int
) -> list[int]:
    """Column widths with the widest wrappable columns narrowed until the table fits ``width``.

    A column is never narrowed below its longest word (words are never broken) nor below
    ``MIN_WRAP_WIDTH`` (short columns such as codes and intervals stay whole); if the table
    cannot fit, it is as narrow as that allows.
    """
    widths = list(widths)
    floor = [
        max(min(w, MIN_WRAP_WIDTH), *(_longest_word(c) for c in col))
        for w, col in zip(widths, columns, strict=True)
    ]
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - width
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if wrappable[i] and w > floor[i]]
        if not candidates:
            break
        # the first column (the row's name, e.g. a register key) is narrowed last
        widths[max(candidates, key=lambda i: (i != 0, widths[i]))] -= 1
        excess -= 1
    return widths


def to_text(
    df: pd.DataFrame,
    floatfmt: str = ".4g",
    right: Sequence[str] = (),
    width: int | None = None,
) -> str:
    """Aligned columns with a header rule; numbers right-aligned.

    With ``width``, a table wider than ``width`` characters has its widest text columns
    wrapped (between words, onto several lines within the column) until every line fits;
    numbers never wrap, and a single word longer than its column may still overflow.
    """
    header = [str(c) for c in df.columns]
    rows = _cells(df, floatfmt)
    columns = [[h] + [r[i] for r in rows] for i, h in enumerate(header)]
    widths = [max(len(c) for c in col) for col in columns]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) or c in right for c in df.columns]
    if width is not None:
        widths = _fit(widths, columns, [not n for n in numeric], width)

    def fmt(row: list[str]) -> list[str]:
        cells = [
            [cell] if num or len(cell) <= w else _wrap(cell, w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        height = max(len(c) for c in cells)
        return [
            _GAP.join(
                (c[j] if j < len(c) else "").rjust(w)
                if num
                else (c[j] if j < len(c) else "").ljust(w)
                for c, w, num in zip(cells, widths, numeric, strict=True)
            ).rstrip()
            for j in range(height)
        ]

    lines = [*fmt(header), _GAP.join("-" * w for w in widths)]
    for r in rows:
        lines += fmt(r)
    return "\n".join(lines)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4g") -> str:
    """A GitHub-flavoured Markdown table (cells are never cut or wrapped)."""
    header = [str(c) for c in df.columns]
    rows = _cells(df, floatfmt)
    esc = [[c.replace("|", "\\|") for c in r] for r in rows]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in esc]
    return "\n".join(lines)
