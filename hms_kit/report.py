"""Plain-text tables for the console and for results.md, and the marked sections of
BENCHMARKS.md that separate commands write."""

from __future__ import annotations

import pandas as pd


def markdown_table(
    df: pd.DataFrame, floatfmt: str = "{:.4f}", bold_rows: set[int] | None = None
) -> str:
    """A DataFrame as a Markdown table; rows whose position is in ``bold_rows`` in bold."""

    def cell(v: object) -> str:
        return floatfmt.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    for i, row in enumerate(df.itertuples(index=False)):
        cells = [cell(v) for v in row]
        if bold_rows and i in bold_rows:
            cells = [f"**{c}**" for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def splice_section(text: str, section: str, start: str, end: str) -> str:
    """``text`` (BENCHMARKS.md) with its block between the ``start`` and ``end`` markers
    replaced by ``section`` (the block appended when there is none); what follows the block
    is kept, after one blank line (without it Markdown would read that text as part of the
    comment's HTML block and show it raw)."""
    block = f"{start}\n{section.rstrip()}\n{end}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        return head + block + ("\n" + after if after else "")
    return (text.rstrip() + "\n\n" if text.strip() else "") + block


def marked_section(text: str, start: str, end: str) -> str:
    """The block of ``text`` between ``start`` and ``end``, markers included, or ``""``."""
    if start in text and end in text:
        return start + text.split(start, 1)[1].split(end, 1)[0] + end
    return ""
