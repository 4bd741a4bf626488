"""The README's course map may only quote figures that the stored notebooks print (lectures 6, 7, 8 and 11).

Every accuracy, BLEU score and number of seconds in a course-map row must appear in that notebook's stored outputs.
Whole-notebook run times are not printed by the notebooks, so a row gives them in minutes ("about 2 min"), which
this test does not check; seconds it does.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["06_mlp_mnist", "07_cnn_mnist", "08_imagenet_alexnet", "11_rnn_translation"]
FIGURE = re.compile(r"(\d+(?:[.,]\d+)*)\s*(%|s\b)|BLEU\s+(\d+\.\d)")


def stored_text(stem: str) -> str:
    notebook = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())
    parts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            parts.append("".join(output.get("text", "")))
            parts.append("".join(output.get("data", {}).get("text/plain", "")))
    return re.sub(r"\s+", " ", "\n".join(parts))


def figures(row: str) -> list[str]:
    """The figures of a course-map row, as the notebooks print them: "99.30 %" → "99.30%", "47 s", "BLEU 29.0"."""
    found = []
    for number, unit, bleu in FIGURE.findall(row):
        found.append(f"BLEU {bleu}" if bleu else f"{number}%" if unit == "%" else f"{number} s")
    return found


def course_map_row(readme: str, stem: str) -> str:
    rows = [line for line in readme.splitlines() if line.startswith("|") and f"notebooks/{stem}.ipynb" in line]
    assert len(rows) == 1, f"expected one course-map row linking notebooks/{stem}.ipynb, found {len(rows)}"
    return rows[0]


@pytest.mark.parametrize("stem", CHECKED)
def test_course_map_figures_are_printed_by_the_notebook(stem):
    row = course_map_row((ROOT / "README.md").read_text(), stem)
    text = stored_text(stem)
    missing = [figure for figure in figures(row) if figure not in text.replace(" %", "%")]
    assert not missing, (f"README course-map row for {stem} quotes {missing}, which its stored outputs do not print; "
                         "re-read them from the notebook or drop them")


def test_figures_are_found_in_a_row():
    row = "| 7 · CNN | [07](notebooks/07_cnn_mnist.ipynb) | about 2 min (99.30 % test accuracy, 47 s of training, BLEU 29.0) |"
    assert figures(row) == ["99.30%", "47 s", "BLEU 29.0"]
