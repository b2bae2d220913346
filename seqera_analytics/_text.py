"""Text for terminals: names in any script, measured in terminal cells, in aligned tables.

pandas pads ``to_string`` by ``len()``, so a column holding CJK, emoji or combining accents
comes out ragged (a CJK character takes two cells, a combining accent none). The tables the
command line prints go through :func:`text_table`, which pads by :func:`display_width`
(``wcwidth``) and writes control characters as escapes, so a name with a line break or an
escape sequence can neither break a row nor drive the terminal.
"""

from __future__ import annotations

import math

import pandas as pd
from wcwidth import wcswidth

__all__ = ["display_width", "printable", "text_table"]

#: Line and paragraph separators end a line in some terminals and editors, like ``\n``.
_BREAKS = frozenset("\u0085\u2028\u2029")


def printable(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1) and line separators as Python escapes
    (``\\n``, ``\\x1b``, ``\\u2028``); everything else, any script or emoji, unchanged."""
    if text.isprintable():
        return text
    return "".join(
        ch.encode("unicode_escape").decode("ascii")
        if ch in _BREAKS or ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0
        else ch
        for ch in text
    )


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes: 2 per wide (CJK, most emoji) character, 0 per combining
    mark or zero-width joiner; ``len()`` for text ``wcwidth`` cannot measure."""
    w = wcswidth(text)
    return w if w >= 0 else len(text)


def _cells(s: pd.Series) -> list[str]:
    if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
        return ["<NA>" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else printable(str(v)) for v in s.to_numpy(dtype=object)]
    # Numbers, times and flags as pandas writes them (one format per column).
    text = s.to_frame().to_string(index=False, header=False)
    return [line.strip() for line in text.splitlines()] if len(s) else []


def text_table(df: pd.DataFrame) -> str:
    """``df`` (without its index) as a plain-text table, each column right-aligned to its
    widest cell in terminal cells, like ``DataFrame.to_string(index=False)``."""
    headers = [printable(str(c)) for c in df.columns]
    columns = [_cells(df.iloc[:, j]) for j in range(df.shape[1])]
    widths = [max([display_width(h)] + [display_width(c) for c in col])
              for h, col in zip(headers, columns)]

    def row(cells: list[str]) -> str:
        return " ".join(" " * (w - display_width(c)) + c for c, w in zip(cells, widths))

    lines = [row(headers)]
    lines += [row([col[i] for col in columns]) for i in range(len(df))]
    return "\n".join(lines)
