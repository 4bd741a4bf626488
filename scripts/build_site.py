"""Build the course website with Jupyter Book 1.x (Sphinx + sphinx-book-theme) into build/site/.

    python scripts/build_site.py          # `make site`: -> build/site/index.html (open it, or serve the folder)

Pages, in reading order (also the previous/next order): the README (landing page, with the course map), then per
lecture its notebook as committed (executed; nothing is re-run) followed by its note, then coursework/README.md
and the student notebooks in coursework/release/. They are copied into build/book/ in the repository's layout,
with links rewritten: a link to another page stays a page link; a link to any other repository file (a note's
`../utils/data.py`) points at that file in the repository on GitHub. The repository's address comes from
pyproject.toml ([project.urls] Repository), as do the notebooks' set-up cell and the "Open in Colab" links.
MathJax 3 is served from the site itself (book/package-lock.json pins it; `npm ci` fetches it into the git-ignored
book/node_modules/ once), so the site works offline.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_setup import BRANCH, REPOSITORY  # noqa: E402  (the one place the address is written)

BOOK = ROOT / "book"
MATHJAX = BOOK / "node_modules" / "mathjax" / "es5"
# MathJax's combined TeX + CHTML component and what it loads lazily (fonts, extensions, menu, speech).
MATHJAX_PARTS = ["tex-chtml-full.js", "input", "output", "a11y", "sre", "ui", "adaptors"]
# matplotlib's animation player links Font Awesome 4 from a CDN; the theme ships Font Awesome locally.
_REMOTE_ICONS = re.compile(r'<link[^>]*href="https://maxcdn\.bootstrapcdn\.com/font-awesome/[^"]*"[^>]*/?>\n?')
_LINK = re.compile(r'(\]\(|href=")([^)"\s]+)')


def _number(path: Path) -> int:
    return int(path.stem.split("_", 1)[0])


def pages() -> list[str]:
    """Repository paths of the site's pages in reading order (the table of contents)."""
    notebooks = {_number(p): p for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")}
    notes = {_number(p): p for p in (ROOT / "lectures").glob("[0-9]*.md")}
    order = ["README.md"]
    for number in sorted(notebooks.keys() | notes.keys()):
        order += [p.relative_to(ROOT).as_posix() for p in (notebooks.get(number), notes.get(number)) if p]
    order.append("coursework/README.md")
    order += [p.relative_to(ROOT).as_posix() for p in sorted((ROOT / "coursework" / "release").glob("*.ipynb"))]
    return order


def staged_name(page: str) -> str:
    """Where a page's source lies in the book folder (the README becomes the landing page)."""
    return "index.md" if page == "README.md" else page


def html_name(page: str) -> str:
    """The HTML file of a page, relative to the site's root."""
    return str(Path(staged_name(page)).with_suffix(".html"))


def colab_url(page: str) -> str:
    """Open a notebook of the repository in Colab."""
    owner_and_name = REPOSITORY.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_and_name}/blob/{BRANCH}/{page}"


def colab_section() -> str:
    """The README's list of "Open in Colab" links, one per notebook (tests/test_site.py keeps it in step)."""
    lines = [f"- [{p.split('/')[-1].removesuffix('.ipynb')}]({colab_url(p)})" for p in pages() if p.endswith(".ipynb")]
    return "\n".join(lines) + "\n"


def repository_url(path: str) -> str:
    """A repository file or folder on GitHub."""
    kind = "tree" if (ROOT / path).is_dir() else "blob"
    return f"{REPOSITORY}/{kind}/{BRANCH}/{path}".rstrip("/")


def rewrite_links(text: str, page: str, site_pages: set[str]) -> str:
    """Point the relative links of ``page`` at pages of the site, or else at the repository on GitHub.

    A link to a file that does not exist is left alone: the build and the browser test then report it.
    """
    folder = Path(page).parent
    staged_folder = Path(staged_name(page)).parent

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        repo_path = Path(os.path.normpath(folder / path)).as_posix()
        if repo_path.startswith(".."):
            return match.group(0)
        if repo_path in site_pages:
            new = Path(os.path.relpath(staged_name(repo_path), staged_folder)).as_posix()
        elif (ROOT / repo_path).exists():
            new = repository_url(repo_path)
        else:
            return match.group(0)
        return match.group(1) + new + (f"#{anchor}" if anchor else "")

    # Leave fenced code alone: split on fences, rewrite the even (prose) pieces only.
    pieces = re.split(r"(^(?:```|~~~).*?^(?:```|~~~)[^\n]*$)", text, flags=re.MULTILINE | re.DOTALL)
    return "".join(piece if i % 2 else _LINK.sub(fix, piece) for i, piece in enumerate(pieces))


def _stage_notebook(source: Path, page: str, site_pages: set[str]) -> str:
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell["source"] = rewrite_links("".join(cell["source"]), page, site_pages)
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is not None:
                output["data"]["text/html"] = _REMOTE_ICONS.sub("", "".join(html))
    return json.dumps(notebook, indent=1, ensure_ascii=False)


def _toc(order: list[str]) -> dict:
    lectures: list[dict] = []  # each notebook a chapter, its note a section under it ("Lecture note" in the sidebar)
    for page in order:
        entry = {"file": str(Path(page).with_suffix(""))}
        if page.startswith("lectures/") and lectures and Path(lectures[-1]["file"]).name == Path(page).stem:
            lectures[-1]["sections"] = [{**entry, "title": "Lecture note"}]
        elif page.startswith(("notebooks/", "lectures/")):
            lectures.append(entry)
    coursework = [{"file": str(Path(p).with_suffix(""))} for p in order if p.startswith("coursework/release/")]
    return {"format": "jb-book", "root": "index", "parts": [
        {"caption": "Lectures: notebooks and notes", "chapters": lectures},
        {"caption": "Coursework", "chapters": [{"file": "coursework/README", "sections": coursework}]},
    ]}


def install_mathjax() -> Path:
    """MathJax 3 as pinned by book/package-lock.json, fetched once with `npm ci`."""
    if not (MATHJAX / "tex-chtml-full.js").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("the site needs MathJax 3 from npm: install Node.js (`apt-get install npm`), "
                             "then run `make site` again")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=BOOK, check=True)
    return MATHJAX


def stage(folder: Path) -> list[str]:
    """Write the book's sources into ``folder`` (emptied first); return the pages in reading order."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    order = pages()
    site_pages = set(order)
    for page in order:
        target = folder / staged_name(page)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / page
        if source.suffix == ".ipynb":
            target.write_text(_stage_notebook(source, page, site_pages), encoding="utf-8")
        else:
            target.write_text(rewrite_links(source.read_text(encoding="utf-8"), page, site_pages), encoding="utf-8")
    config = yaml.safe_load((BOOK / "_config.yml").read_text(encoding="utf-8"))
    config["repository"]["url"] = REPOSITORY
    (folder / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (folder / "_toc.yml").write_text(yaml.safe_dump(_toc(order), sort_keys=False), encoding="utf-8")
    mathjax = install_mathjax()
    # Not in _static/: Jupyter Book would add every .js file there to every page.
    (folder / "_assets" / "mathjax").mkdir(parents=True)
    for part in MATHJAX_PARTS:
        copy = shutil.copytree if (mathjax / part).is_dir() else shutil.copy2
        copy(mathjax / part, folder / "_assets" / "mathjax" / part)
    return order


class SiteWarnings(Exception):
    """Jupyter Book warned: the site was written, but something in the sources needs fixing."""


def build(out: Path = ROOT / "build" / "site", work: Path = ROOT / "build" / "book") -> list[str]:
    """Build the site into ``out`` (replaced); return the pages in reading order. Sphinx warnings are errors."""
    order = stage(work)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    build = subprocess.run([str(jupyter_book), "build", str(work), "--builder", "html", "--warningiserror",
                            "--keep-going", "--quiet"], stdout=subprocess.DEVNULL)  # warnings go to stderr
    if out.exists():
        shutil.rmtree(out)
    shutil.move(work / "_build" / "html", out)
    if build.returncode:
        raise SiteWarnings(f"the site was built into {out}, but with the warnings above (a broken link, a page "
                           f"without a title, ...): fix them in the sources")
    return order


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    args = parser.parse_args(argv)
    try:
        order = build(args.out)
    except SiteWarnings as warned:
        print(warned, file=sys.stderr)
        return 1
    print(f"{len(order)} pages -> {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
