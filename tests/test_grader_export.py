"""`make student-repo` (``python -m coursework.export``): the export holds no solution or hidden test, and its own
tests of the student side pass inside it."""
import os
import subprocess
import sys

import nbformat
import pytest

from coursework import export, release
from test_coursework import secret_lines


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    destination = tmp_path_factory.mktemp("student") / "repo"
    return destination, export.export(destination)


def test_instructor_files_stay_behind(exported):
    destination, files = exported
    assert "coursework/release/01_optimisers.ipynb" in files and "coursework/harness.py" in files
    assert "utils/__init__.py" in files and any(f.startswith("lectures/") for f in files)
    assert not (destination / "coursework" / "source").exists()
    for private in ("coursework/grade.py", "coursework/sandbox.py", "coursework/release.py",
                    "tests/test_grader_attacks.py", "tests/test_coursework.py"):
        assert not (destination / private).exists(), private


def _lines(path) -> set[str]:
    if path.suffix == ".ipynb":
        notebook = nbformat.read(path, as_version=4)
        return {line.strip() for cell in notebook.cells for line in cell.source.splitlines()}
    return {line.strip() for line in path.read_bytes().decode("utf-8", errors="ignore").splitlines()}


def _regions(source) -> list[set[str]]:
    """The secret lines of each solution or hidden-test region (lines the student copy does not show)."""
    secrets, regions = secret_lines(source), []
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        current = None
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                current = set()
            elif stripped in ("### END SOLUTION", "### END HIDDEN TESTS"):
                regions.append(current)
                current = None
            elif current is not None and stripped in secrets:
                current.add(stripped)
    return [region for region in regions if region]


def test_no_solution_or_hidden_test_in_any_exported_file(exported):
    # In the export's coursework no line of a solution or hidden test that the student copy does not show may occur;
    # elsewhere (lectures, utils, benchmarks) single common lines such as `optimizer.step()` do occur, but no whole
    # solution or hidden-test region of two or more such lines, and never the markers.
    destination, files = exported
    sources = [nbformat.read(path, as_version=4) for path in sorted(release.SOURCE_DIR.glob("*.ipynb"))]
    secrets = set().union(*(secret_lines(source) for source in sources))
    regions = [region for source in sources for region in _regions(source) if len(region) >= 2]
    assert len(secrets) > 40 and len(regions) >= 8
    found = []
    for name in files:
        path = destination / name
        text, lines = path.read_bytes().decode("utf-8", errors="ignore"), _lines(path)
        if name.startswith("coursework/"):
            found += [(name, line) for line in sorted(secrets & lines)]
        found += [(name, sorted(region)[0]) for region in regions if region <= lines]
        found += [(name, marker) for marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS", "GRADING_SEED")
                  if marker in text and name.startswith(("coursework/", "notebooks/"))]
    assert not found, found[:10]


def test_the_exports_own_student_side_tests_pass(exported):
    destination, _ = exported
    env = {**os.environ, "PYTHONPATH": str(destination)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                             "tests/test_grader_student_side.py"], cwd=destination, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "passed" in result.stdout
