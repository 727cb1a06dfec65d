"""The one table formatter: Markdown pipe tables that read back cell for cell."""

import pytest

from atom.tables import markdown_table


def test_table_reads_back_cell_for_cell():
    rows = [(1, "a red cube", 0.5), ("i2", "a | b", None)]
    table = markdown_table(("#", "prompt", "value"), rows)
    lines = table.splitlines()
    assert lines[1] == "|---|---|---|"
    parsed = [[c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")] for line in lines[2:]]
    assert parsed == [["1", "a red cube", "0.5"], ["i2", "a | b", "None"]]


def test_rows_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="every row needs 2 cells"):
        markdown_table(("a", "b"), [(1, 2, 3)])
