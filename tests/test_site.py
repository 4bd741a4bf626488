"""The course website (scripts/build_site.py, Jupyter Book): built once, then every page rendered in headless Chromium.

Needs Debian's chromium (`.ci/run` installs it when missing) and npm (MathJax). About a minute on 2 cores.
To check a site that is already built instead of building one:
    COURSE_SITE_DIR=build/site .venv/bin/python -m pytest tests/test_site.py
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)

PAGES = build_site.pages()  # repository paths in reading order
NOTEBOOK_PAGES = [p for p in PAGES if p.endswith(".ipynb")]
SEARCH_QUERY = "jacobian"  # a word of lecture 5, to prove the full-text search finds pages
MATH = re.compile(r"\$\$|(?<![\\$])\$[^$\s][^$\n]*\$|\\begin\{")


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("the site test needs Debian's chromium: `apt-get install -y chromium` (.ci/run does it)")
    return browser


BUILD_WARNINGS: list[str] = []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if os.environ.get("COURSE_SITE_DIR"):
        return Path(os.environ["COURSE_SITE_DIR"]).resolve()
    work = tmp_path_factory.mktemp("site")
    try:
        build_site.build(out=work / "site", work=work / "book")
    except build_site.SiteWarnings as warned:  # the site is there: check it too, and fail test_the_site_builds
        BUILD_WARNINGS.append(str(warned))
    return work / "site"


def test_the_site_builds_without_warnings(site):
    assert not BUILD_WARNINGS, BUILD_WARNINGS[0] + " (Jupyter Book's warnings are in the captured stderr)"


def _render(browser: str, url: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync", "--disable-component-update",
             f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def dom(site) -> dict[str, str]:
    """Each page's DOM after its scripts ran (MathJax included), keyed by repository path; "search" too."""
    browser = _chromium()
    urls = {page: (site / build_site.html_name(page)).as_uri() for page in PAGES
            if (site / build_site.html_name(page)).is_file()}
    urls["search"] = (site / "search.html").as_uri() + f"?q={SEARCH_QUERY}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(urls, pool.map(lambda url: _render(browser, url), urls.values())))


def _source_text(page: str) -> str:
    text = (ROOT / page).read_text(encoding="utf-8")
    if page.endswith(".ipynb"):
        cells = json.loads(text)["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return text


def _links(html: str) -> list[str]:
    return re.findall(r'\s(?:href|src)="([^"]*)"', html)


def test_every_page_is_built(site, dom):
    missing = [build_site.html_name(p) for p in PAGES if p not in dom]
    assert not missing, f"pages missing from the site: {missing}"
    assert len(dom) == len(PAGES) + 1


def test_math_is_rendered_by_mathjax3_without_errors(site, dom):
    math_pages = [p for p in PAGES if MATH.search(_source_text(p))]
    assert len(math_pages) >= 10, "the course's pages should have math"
    problems = []
    for page in (p for p in PAGES if p in dom):  # a missing page is test_every_page_is_built's failure
        html = dom[page]
        errors = html.count("Math Processing Error") + html.count("<mjx-merror") + html.count('class="merror')
        if errors:
            problems.append(f"{page}: {errors} MathJax errors")
        if page in math_pages:
            static = (site / build_site.html_name(page)).read_text(encoding="utf-8")
            expected = len(re.findall(r'class="math[ "]', static))
            rendered = html.count("<mjx-container")
            if not expected or rendered < expected:
                problems.append(f"{page}: {rendered} MathJax 3 containers for {expected} math elements")
    assert not problems, "\n".join(problems)


def test_no_dead_local_link_and_nothing_loaded_from_the_internet(site, dom):
    dead, remote = [], []
    for page, html in dom.items():
        here = (site / ("search.html" if page == "search" else build_site.html_name(page))).parent
        for link in _links(html):
            if re.match(r"[a-z][a-z0-9+.-]*:", link) or link.startswith("#") or not link:
                continue
            target = unquote(link.split("#")[0].split("?")[0])
            if not (here / target).exists():
                dead.append(f"{page} -> {link}")
        remote += [f"{page}: {src}" for src in re.findall(r'<script[^>]*\ssrc="(https?://[^"]+)"', html)]
        remote += [f"{page}: {href}" for href in re.findall(r'<link[^>]*\shref="(https?://[^"]+)"[^>]*stylesheet',
                                                            html)]
    assert not dead, f"{len(dead)} dead local links:\n" + "\n".join(dead[:30])
    assert not remote, "pages load files from the internet (the site must work offline):\n" + "\n".join(remote)


def test_search_is_on_every_page_and_finds_pages(site, dom):
    without = [p for p in PAGES if 'search.html"' not in dom.get(p, "")]
    assert not without, f"pages without search: {without}"
    results = re.search(r'<ul class="search">(.*?)</ul>', dom["search"], flags=re.DOTALL)
    assert results, "the search page shows no result list"
    found = set(re.findall(r'href="([^"?#]+)', results.group(1)))
    assert {"notebooks/05_backpropagation.html", "lectures/05_backpropagation.html"} & found, found


def _neighbour(html: str, side: str) -> str | None:
    match = re.search(rf'<a class="{side}"[^>]*\shref="([^"]+)"', html) or \
        re.search(rf'<a [^>]*href="([^"]+)"[^>]*class="{side}"', html)
    return match.group(1) if match else None


def test_every_page_links_to_its_previous_and_next_neighbours(site, dom):
    problems = []
    for i, page in enumerate(PAGES):
        html, here = dom.get(page, ""), Path(build_site.html_name(page)).parent
        for side, j in (("left-prev", i - 1), ("right-next", i + 1)):
            if not 0 <= j < len(PAGES):
                continue
            link = _neighbour(html, side)
            target = os.path.normpath(here / link) if link else None
            if target != build_site.html_name(PAGES[j]):
                problems.append(f"{page}: {side} is {target}, expected {build_site.html_name(PAGES[j])}")
    assert not problems, f"{len(problems)} missing or wrong neighbour links:\n" + "\n".join(problems)


def test_notebook_pages_show_their_figures_and_animations_and_open_in_colab(site, dom):
    problems = []
    for page in NOTEBOOK_PAGES:
        html = dom.get(page, "")
        outputs = [o for cell in json.loads((ROOT / page).read_text(encoding="utf-8"))["cells"]
                   for o in cell.get("outputs", [])]
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        animations = sum('class="animation"' in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
        main = html.split('id="main-content"', 1)[-1]
        if main.count("<img") < images:
            problems.append(f"{page}: {main.count('<img')} images shown, {images} stored")
        if main.count('class="animation"') < animations:
            problems.append(f"{page}: animations missing")
        if f'href="{build_site.colab_url(page)}"' not in html:
            problems.append(f"{page}: no Open in Colab link")
    assert not problems, "\n".join(problems)


def test_links_to_source_files_point_at_the_repository(site, dom):
    expected = 0
    for page in PAGES:
        for target in re.findall(r"\]\((\.\./[^)#\s]+)\)", _source_text(page)):
            path = os.path.normpath(Path(page).parent / target)
            if path in PAGES or not (ROOT / path).exists():
                continue
            expected += 1
            assert f'href="{build_site.repository_url(path)}"' in dom.get(page, ""), f"{page}: link to {path}"
    assert expected >= 5, "the notes link to the course's source files"


def test_readme_lists_an_open_in_colab_link_per_notebook():
    section = build_site.colab_section()
    assert section in (ROOT / "README.md").read_text(encoding="utf-8"), \
        "README.md's 'Open in Colab' list is out of step with the notebooks; put this list there:\n" + section
