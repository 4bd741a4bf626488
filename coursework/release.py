"""Generate student versions of the assignments from the instructor sources.

    python -m coursework.release            # write coursework/release/*.ipynb
    python -m coursework.release --check    # exit 1 if the committed release is out of date

The instructor source marks solutions with nbgrader's syntax. In the student version every
``### BEGIN SOLUTION`` … ``### END SOLUTION`` region becomes ``raise NotImplementedError()``
(indented like the marker), every ``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` region is
removed, and outputs, execution counts and widget state are cleared.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
SOURCE_DIR, RELEASE_DIR = HERE / "source", HERE / "release"
MARKERS = {"### BEGIN SOLUTION": "### END SOLUTION", "### BEGIN HIDDEN TESTS": "### END HIDDEN TESTS"}


def strip_regions(text: str, where: str = "cell") -> str:
    """Replace solution regions by ``raise NotImplementedError()`` and drop hidden-test regions."""
    out, open_marker, indent = [], None, ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if open_marker is None and stripped in MARKERS:
            open_marker, indent = stripped, line[:len(line) - len(line.lstrip())]
            if stripped == "### BEGIN SOLUTION":
                out.append(f"{indent}raise NotImplementedError()")
        elif open_marker is not None and stripped == MARKERS[open_marker]:
            open_marker = None
        elif open_marker is None and stripped in MARKERS.values():
            raise ValueError(f"{where}, line {number}: {stripped!r} without its BEGIN marker")
        elif open_marker is None:
            out.append(line)
    if open_marker is not None:
        raise ValueError(f"{where}: {open_marker!r} is never closed")
    return "\n".join(out)


def hidden_line_ranges(text: str) -> list[tuple[int, int]]:
    """1-based (first, last) line numbers of each hidden-test region of a cell, markers included."""
    ranges, start = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() == "### BEGIN HIDDEN TESTS":
            start = number
        elif line.strip() == "### END HIDDEN TESTS" and start is not None:
            ranges.append((start, number))
            start = None
    return ranges


def student_version(notebook: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """The student copy of an instructor notebook (the input is not modified)."""
    notebook = copy.deepcopy(notebook)
    notebook.metadata.pop("widgets", None)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.source = strip_regions(cell.source, f"{name}, cell {index}")
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    return notebook


def render(source: Path) -> str:
    """The exact text of the student version of ``source``."""
    notebook = nbformat.read(source, as_version=4)
    return nbformat.writes(student_version(notebook, source.name)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare with the committed release, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for source in sorted(SOURCE_DIR.glob("*.ipynb")):
        target, text = RELEASE_DIR / source.name, render(source)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
        else:
            RELEASE_DIR.mkdir(exist_ok=True)
            target.write_text(text, encoding="utf-8")
            print(f"{source.relative_to(HERE.parent)} -> {target.relative_to(HERE.parent)}")
    if stale:
        print("out of date: " + ", ".join(stale) + ". Run `python -m coursework.release` and commit.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
