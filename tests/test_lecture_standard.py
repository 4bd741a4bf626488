"""The measurable parts of the lecture standard (../shared/LECTURE-STANDARD.md), enforced per notebook.

A notebook leaves ``NOT_YET`` once it has been brought to the standard; from then on it cannot slip back.
"""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_setup import has_setup_cell  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NOT_YET: set[str] = set()
BAD_OUTPUT = {
    "widget view": re.compile(r"application/vnd\.jupyter\.widget-view"),
    "frozen progress bar": re.compile(r"\b0%\|"),
    "absolute path": re.compile(r"(/work/|/root/|/home/|/tmp/|/Users/|C:\\\\)"),
    "warning": re.compile(r"\b\w*Warning:"),
    "object repr": re.compile(r"<[\w.]+ object at 0x|<torch\._C\.Generator"),
}


def source(cell: dict) -> str:
    return "".join(cell["source"])


def prose_words(markdown: str) -> int:
    markdown = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.S)
    markdown = re.sub(r"\$[^$\n]*\$", " ", markdown)
    markdown = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    markdown = re.sub(r"<[^>]+>", " ", markdown)
    return len(re.findall(r"[A-Za-z][A-Za-z'-]*", markdown))


def draws_figure(cell: dict) -> bool:
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data or "<video" in "".join(data.get("text/html", "")):
            return True
    return False


def problems(notebook: dict) -> list[str]:
    cells = notebook["cells"]
    markdown = [source(c) for c in cells if c["cell_type"] == "markdown"]
    found = []
    exercises = sum(len(re.findall(r"(?im)^#{1,6}[^\n]*\bexercise", m)) for m in markdown)
    solutions = sum(len(re.findall(r"(?is)<details>\s*<summary>[^<]*solution", m)) for m in markdown)
    if exercises < 4:
        found.append(f"{exercises} exercises (want >= 4)")
    if solutions < exercises:
        found.append(f"{solutions} collapsible solutions for {exercises} exercises")
    lines = [len([l for l in source(c).splitlines() if l.strip()])
             for c in cells if c["cell_type"] == "code" and source(c).strip()]
    if max(lines) > 30:
        found.append(f"longest code cell {max(lines)} lines (want <= 30)")
    if sum(lines) / len(lines) > 15:
        found.append(f"mean code cell {sum(lines) / len(lines):.1f} lines (want <= 15)")
    words = sum(prose_words(m) for m in markdown)
    if words < 1500:
        found.append(f"{words} words of prose (want >= 1500)")
    bare = sum(1 for i, c in enumerate(cells) if c["cell_type"] == "code" and draws_figure(c)
               and (i + 1 == len(cells) or cells[i + 1]["cell_type"] != "markdown"))
    if bare:
        found.append(f"{bare} figures without a Markdown takeaway right after")
    outputs = json.dumps([c.get("outputs", []) for c in cells if c["cell_type"] == "code"])
    for name, pattern in BAD_OUTPUT.items():
        if pattern.search(outputs):
            found.append(f"{name} in stored outputs")
    if not has_setup_cell(notebook):
        found.append("first code cell is not the set-up cell (scripts/notebook_setup.py)")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_meets_the_lecture_standard(path):
    if path.stem in NOT_YET:
        pytest.skip("not yet brought to the lecture standard")
    assert problems(json.loads(path.read_text())) == []


def test_not_yet_lists_only_existing_notebooks():
    assert NOT_YET <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("bad", ['{"data": {"application/vnd.jupyter.widget-view+json": {}}}', '"  0%|          | 0/10"',
                                 '"saved to /root/.cache/x"', '"UserWarning: careful"', '"<torch._C.Generator object at 0x7f>"'])
def test_bad_outputs_are_caught(bad):
    notebook = json.loads((ROOT / "notebooks" / "02_gradient_descent.ipynb").read_text())
    code = next(c for c in notebook["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": json.loads(bad)}] if bad.startswith('"') \
        else [{"output_type": "display_data", "metadata": {}, **json.loads(bad)}]
    assert any("in stored outputs" in p for p in problems(notebook))
