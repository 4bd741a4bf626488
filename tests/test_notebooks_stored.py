"""Notebooks are committed executed, so they render with their figures when browsed."""
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_without_errors(path):
    notebook = json.loads(path.read_text())
    assert "widgets" not in notebook.get("metadata", {}), "strip metadata.widgets (make notebooks does)"
    code = [c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code, "a lecture notebook has code"
    counts = [c.get("execution_count") for c in code]
    assert None not in counts, f"code cell {counts.index(None)} is not executed"
    assert counts == list(range(1, len(code) + 1)), "run the notebook top to bottom in one fresh kernel"
    for index, cell in enumerate(code):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if "raises-exception" not in cell.get("metadata", {}).get("tags", []):
            assert not errors, f"code cell {index} holds an error output"
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in code for o in c.get("outputs", [])), "a lecture shows at least one figure"
