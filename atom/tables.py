"""Plain-text tables for terminal summaries (Markdown pipe tables: readable as printed, and as rendered).

Imports no room: training, evaluation and inference all print their summaries through here.
"""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]], max_width: int = 60) -> str:
    """A Markdown table of ``rows`` under ``header``; cells are ``str()``-ed, ``|`` escaped and cut to
    ``max_width`` characters."""
    if any(len(row) != len(header) for row in rows):
        raise ValueError(f"every row needs {len(header)} cells ({list(header)}), got lengths "
                         f"{sorted({len(row) for row in rows})}")

    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")[:max_width]

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
