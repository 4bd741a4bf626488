"""The seed check of the notebooks' headline asserts (scripts/seed_check.py) is current, complete and passed."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import seed_check  # noqa: E402

SAVED = json.loads(seed_check.RESULT.read_text()) if seed_check.RESULT.exists() else {}


@pytest.mark.parametrize("stem", sorted(seed_check.HEADLINES))
def test_every_seed_passes_with_margin(stem):
    notebook = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    assert stem in SAVED, f"no seed check for {stem}: run python scripts/seed_check.py notebooks/{stem}.ipynb"
    entry = SAVED[stem]
    assert entry["code_sha256"] == seed_check.code_hash(notebook), (
        f"{stem}'s code changed after its seed check: re-run python scripts/seed_check.py notebooks/{stem}.ipynb")
    seeds = [run["seed"] for run in entry["runs"]]
    assert len(set(seeds)) >= 3 and 0 in seeds, f"{stem}: want seed 0 (the stored run) and at least two others"
    failed = [run for run in entry["runs"] if not run["passed"]]
    assert not failed, f"{stem}: the notebook's asserts fail with some seeds: {failed}"
    for name, row in seed_check.margins(entry).items():
        if "margin" in row:
            assert row["margin"] > 0, f"{stem}, {name}: the worst seed sits on the bound ({row})"


def test_seed_is_injected_after_the_parameters_cell():
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os"),
        nbformat.v4.new_code_cell("SEED = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(SEED)")])
    seeded = seed_check.with_seed(notebook, 3, "print('probe')")
    assert [c.source for c in seeded.cells] == ["import os", "SEED = 0", "SEED = 3", "print(SEED)", "print('probe')"]
    assert [c.source for c in seed_check.with_seed(notebook, 0, None).cells] == ["import os", "SEED = 0", "print(SEED)"]
    assert len(notebook.cells) == 3, "the original is left alone"
    notebook.cells[1].metadata["tags"] = []
    with pytest.raises(SystemExit, match="tagged 'parameters'"):
        seed_check.with_seed(notebook, 1, None)


def test_margins_read_the_direction_of_each_assert():
    entry = {"headlines": {"accuracy": {"assert": ">=", "bound": 0.9}, "error": {"assert": "<=", "bound": 0.1},
                           "seconds": {"assert": "", "bound": 0.0}},
             "runs": [{"passed": True, "values": {"accuracy": 0.95, "error": 0.04, "seconds": 10}},
                      {"passed": True, "values": {"accuracy": 0.92, "error": 0.06, "seconds": 30}},
                      {"passed": False}]}
    rows = seed_check.margins(entry)
    assert rows["accuracy"]["margin"] == pytest.approx(0.02) and rows["error"]["margin"] == pytest.approx(0.04)
    assert "margin" not in rows["seconds"] and rows["seconds"]["mean"] == 20
