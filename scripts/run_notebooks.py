"""Execute lecture notebooks top to bottom in a fresh kernel and store them with their outputs.

    python scripts/run_notebooks.py notebooks/*.ipynb                    # regenerate in place
    python scripts/run_notebooks.py notebooks/02_gradient_descent.ipynb --output-dir build/demo --html

Outputs and execution counts are kept and ``metadata.widgets`` is stripped, as the repository stores them.
A cell that raises stops the run (unless it is tagged ``raises-exception``) and nothing is written.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int, notebook: nbformat.NotebookNode | None = None
            ) -> tuple[nbformat.NotebookNode, float]:
    """Run ``notebook`` (default: the one at ``path``) in a fresh kernel started in ``path``'s folder."""
    notebook = notebook if notebook is not None else nbformat.read(path, as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    notebook.metadata.pop("widgets", None)
    return notebook, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--output-dir", type=Path, help="write executed copies here instead of in place")
    parser.add_argument("--html", action="store_true", help="also write an HTML page with the figures embedded")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    os.environ["TQDM_DISABLE"] = "1"  # no progress bars in stored outputs (utils.progress honours it in kernels)
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        notebook, seconds = execute(path, args.timeout)
        target = (args.output_dir / path.name) if args.output_dir else path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, target)
        print(f"  {seconds:.0f} s -> {target}")
        if args.html:
            from nbconvert import HTMLExporter

            html, _ = HTMLExporter().from_notebook_node(notebook)
            page = target.with_suffix(".html")
            page.write_text(html, encoding="utf-8")
            print(f"  HTML page with figures -> {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
