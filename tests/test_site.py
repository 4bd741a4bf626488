"""The static site: built from the committed notebooks and notes; optionally checked in a real headless browser.

The browser test is opt-in (it needs Debian's chromium: `apt-get install chromium`):
    COURSE_BROWSER_TEST=1 .venv/bin/python -m pytest tests/test_site.py
"""
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site") / "site"
    pages = build_site.build(out)
    return out, pages


def _images_in(notebook_path: Path) -> int:
    notebook = nbformat.read(notebook_path, as_version=4)
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.outputs)


def test_every_notebook_and_note_has_a_page_and_every_link_resolves(site):
    out, pages = site
    notes = [p for p in NOTEBOOKS if (ROOT / "lectures" / f"{p.stem}.md").exists()]
    assert len(pages) == 1 + len(NOTEBOOKS) + len(notes)
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r"href='([^']+)'", index)
    assert len(links) == len(NOTEBOOKS) + len(notes)
    assert all((out / link).is_file() for link in links)
    for page in pages[1:]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r'href="(\.\./(?:notebooks|lectures)/[^"#]+)"', text):
            assert (page.parent / target).is_file(), f"{page.name} links to a missing page {target}"


def test_figures_are_embedded_and_mathjax_is_local(site):
    out, _ = site
    for path in NOTEBOOKS:
        text = (out / "notebooks" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert text.count("data:image/png;base64,") >= _images_in(path), path.name
        assert "../mathjax/MathJax.js?config=" in text
        assert not re.findall(r'<(?:script|link)[^>]*(?:src|href)="https?://', text), f"{path.name} loads a remote file"
    assert (out / "mathjax" / "MathJax.js").is_file()


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(os.environ.get("COURSE_BROWSER_TEST") != "1",
                    reason="opt-in: set COURSE_BROWSER_TEST=1 (needs `apt-get install chromium`)")
def test_pages_render_in_headless_chromium(site, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.fail("COURSE_BROWSER_TEST=1 but no chromium on PATH: `apt-get install chromium`")
    out, pages = site
    control = tmp_path / "control.html"  # proves that console errors are seen at all
    control.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    for page in [control, *pages]:
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--disable-component-update",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             "--virtual-time-budget=20000", "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
        errors = [line for line in console if "Error" in line or "Failed" in line or "Uncaught" in line]
        if page == control:
            assert any("undefinedFunction" in line for line in errors), "console errors are not being captured"
            continue
        assert not errors, f"{page.name}: {errors[:3]}"
        dom = result.stdout
        assert "<body" in dom
        if page.parent.name == "notebooks":
            source = ROOT / "notebooks" / f"{page.stem}.ipynb"
            assert dom.count("<img") >= _images_in(source), f"{page.name}: images missing"
            assert "MathJax" in dom and 'class="MathJax' in dom, f"{page.name}: math was not rendered"
