"""The one set-up cell every notebook starts with (its first code cell), kept identical everywhere.

    python scripts/notebook_setup.py notebooks/*.ipynb           # insert or refresh the cell
    python scripts/notebook_setup.py --check notebooks/*.ipynb   # exit 1 if a notebook lacks it

The cell does nothing when the course package is importable (``make demo`` installs it); on Colab or in a bare
Jupyter it installs the package from the repository. Notebooks make no other assumption about where they run.
"""
from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
with open(ROOT / "pyproject.toml", "rb") as _file:
    REPOSITORY: str = tomllib.load(_file)["project"]["urls"]["Repository"]  # written once, in pyproject.toml
BRANCH = "main"
MARKER = "# Set-up:"
SETUP_CELL = f'''{MARKER} the course package `utils` (installed by `make demo`). On Colab or a bare Jupyter, install it.
try:
    import utils
except ModuleNotFoundError:
    %pip install --quiet "dl-course-utils @ git+{REPOSITORY}"'''


def first_code_cell(cells: list[dict]) -> int | None:
    return next((i for i, c in enumerate(cells) if c["cell_type"] == "code"), None)


def has_setup_cell(notebook: dict) -> bool:
    """True when the notebook's first code cell is exactly the set-up cell."""
    i = first_code_cell(notebook["cells"])
    return i is not None and "".join(notebook["cells"][i]["source"]) == SETUP_CELL


def ensure_setup_cell(path: Path) -> bool:
    """Insert the set-up cell (after the title cell) or refresh an outdated one; True if the file changed."""
    notebook = json.loads(path.read_text())
    if has_setup_cell(notebook):
        return False
    cells = notebook["cells"]
    i = first_code_cell(cells)
    source = SETUP_CELL.splitlines(keepends=True)
    if i is not None and "".join(cells[i]["source"]).startswith(MARKER):
        cells[i]["source"] = source
    else:
        at = 1 if cells and cells[0]["cell_type"] == "markdown" else 0
        cells.insert(at, {"cell_type": "code", "execution_count": None, "id": "course-setup",
                          "metadata": {}, "outputs": [], "source": source})
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="only report notebooks without the set-up cell")
    args = parser.parse_args(argv)
    missing = [p for p in args.notebooks if not has_setup_cell(json.loads(p.read_text()))]
    if args.check:
        for p in missing:
            print(f"{p}: the first code cell is not the set-up cell (run scripts/notebook_setup.py {p})")
        return 1 if missing else 0
    for p in args.notebooks:
        if ensure_setup_cell(p):
            print(f"{p}: set-up cell written (re-execute the notebook)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
