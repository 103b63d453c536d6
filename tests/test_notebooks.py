"""The committed notebooks are stored as papermill expects them: no outputs, one parameters cell."""

from __future__ import annotations

import nbformat
import pytest

from analysis import paths

NOTEBOOKS = sorted((paths.ROOT / "analysis" / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"eda", "model"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged `parameters`, want 1"
    assert tagged[0].cell_type == "code"
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: cell {i} was committed with outputs"
            assert cell.execution_count is None, f"{path.name}: cell {i} has an execution count"
