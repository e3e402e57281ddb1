"""Plain-text tables for the console and for results.md."""

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
