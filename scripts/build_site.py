"""Render the executed lecture notebooks and the lecture notes into a static HTML site.

    python scripts/build_site.py               # reuse the committed executed notebooks -> build/site/index.html
    python scripts/build_site.py --execute     # execute every notebook first (a few minutes each)

Figures and animations are embedded in the pages (they are notebook outputs); math is rendered in the browser
by a local copy of MathJax (from the `jupyter-server-mathjax` package), so the site works offline. Open
`build/site/index.html` in a browser, or serve the folder with `python -m http.server -d build/site`.
"""
from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from pathlib import Path

import jupyter_server_mathjax
import mistune
import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
# Inline $...$ is off by default in MathJax 2; the notes and notebooks use it.
MATHJAX_SETUP = """<script type="text/x-mathjax-config">
MathJax.Hub.Config({tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true}});
</script>"""
STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: left; }
code { background: #f4f4f4; padding: 0 0.2rem; } pre { background: #f4f4f4; padding: 0.6rem; overflow-x: auto; }
</style>"""


def _page(title: str, body: str, mathjax: str | None) -> str:
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title>{STYLE}"
    if mathjax:
        head += MATHJAX_SETUP + f"<script src='{mathjax}?config={MATHJAX_CONFIG}'></script>"
    return f"<!DOCTYPE html>\n<html lang='en'><head>{head}</head><body>\n{body}\n</body></html>\n"


# The pages must not need the internet: nbconvert's template loads require.js (only used by widgets, which the
# committed notebooks do not keep) and matplotlib's animation player loads Font Awesome for its button icons.
_ICONS = {"minus": "−", "plus": "+", "fast-backward": "⏮", "step-backward": "◀︎", "play": "▶︎", "pause": "⏸",
          "step-forward": "▶︎|", "fast-forward": "⏭"}
_ICON_CSS = "<style>" + " ".join(f'.fa-{name}:before {{ content: "{char}"; }}' for name, char in _ICONS.items()) + \
    " .fa { font-style: normal; }</style>"


def _offline(page: str) -> str:
    page = re.sub(r'<script src="https://cdnjs\.cloudflare\.com/ajax/libs/require\.js/[^"]*"></script>', "", page)
    page = re.sub(r'<link[^>]*href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^"]*"[^>]*/?>', _ICON_CSS, page)
    remote = re.findall(r'<(?:script|link)[^>]*(?:src|href)="(https?://[^"]+)"', page)
    if remote:
        raise RuntimeError(f"a page would load {remote[0]}; make it local in scripts/build_site.py")
    return page


def _title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, flags=re.MULTILINE)
            if match:
                return match.group(1).strip()
    return fallback


def _link_fix(text: str) -> str:
    # Notes link to ../notebooks/X.ipynb and ../lectures/Y.md; in the site those are pages.
    text = re.sub(r'href="([^"]*?)\.ipynb"', r'href="\1.html"', text)
    return re.sub(r'href="((?!https?:)[^"]*?)\.md"', r'href="\1.html"', text)


def build(out: Path, execute: bool = False, timeout: int = 600) -> list[Path]:
    """Write the site into ``out`` (emptied first); return the pages written."""
    if out.exists():
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    (out / "lectures").mkdir()
    shutil.copytree(Path(jupyter_server_mathjax.__file__).parent / "static", out / "mathjax")
    exporter = HTMLExporter(template_name="lab",
                            mathjax_url=f"../mathjax/MathJax.js?config={MATHJAX_CONFIG}")
    render_markdown = mistune.create_markdown(escape=False, plugins=["math", "table", "strikethrough"])
    if execute:
        sys.path.insert(0, str(ROOT / "scripts"))
        from run_notebooks import execute as run
    pages, rows = [], []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        if execute:
            notebook, seconds = run(path, timeout)
            print(f"executed {path.name} in {seconds:.0f} s")
        else:
            notebook = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(notebook)
        page = out / "notebooks" / f"{path.stem}.html"
        page.write_text(_offline(body), encoding="utf-8")
        pages.append(page)
        note = ROOT / "lectures" / f"{path.stem}.md"
        note_link = ""
        if note.exists():
            text = note.read_text(encoding="utf-8")
            note_title = text.splitlines()[0].lstrip("# ").strip()
            note_page = out / "lectures" / f"{path.stem}.html"
            note_page.write_text(_page(note_title, _link_fix(render_markdown(text)), "../mathjax/MathJax.js"),
                                 encoding="utf-8")
            pages.append(note_page)
            note_link = f"<a href='lectures/{path.stem}.html'>note</a>"
        rows.append(f"<tr><td><a href='notebooks/{path.stem}.html'>{html.escape(_title(notebook, path.stem))}</a>"
                    f"</td><td>{note_link}</td></tr>")
    index = out / "index.html"
    index.write_text(_page("Deep learning lectures", "<h1>Deep learning lectures</h1>\n"
                           "<p>Executed lecture notebooks and lecture notes.</p>\n"
                           "<table><tr><th>notebook</th><th>lecture note</th></tr>\n" + "\n".join(rows)
                           + "\n</table>", None), encoding="utf-8")
    return [index, *pages]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--execute", action="store_true", help="execute the notebooks instead of reusing their outputs")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell with --execute")
    args = parser.parse_args(argv)
    pages = build(args.out, args.execute, args.timeout)
    print(f"{len(pages)} pages -> {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
