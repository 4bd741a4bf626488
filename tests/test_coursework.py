"""The coursework contract: every instructor source scores full marks, every generated student version scores zero
without crashing the grader, the committed release is what the generator produces now, and no solution leaks."""
import json
import re

import nbformat
import pytest

from coursework import release
from coursework.grade import grade, graded_tests, write_report

SOURCES = sorted(release.SOURCE_DIR.glob("*.ipynb"))
NAMES = [path.stem for path in SOURCES]


def test_there_are_four_assignments():
    assert NAMES == ["01_optimisers", "02_backprop", "03_cnn_budget", "04_teacher_student"]


@pytest.mark.parametrize("name", NAMES)
def test_instructor_source_scores_full_marks(name, tmp_path):
    report = grade(release.SOURCE_DIR / f"{name}.ipynb")
    assert report.score == report.max_score > 0, report.summary()
    json_path, text_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["score"] == report.max_score
    assert f"{report.max_score:g} / {report.max_score:g} points" in text_path.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_student_version_scores_zero(name):
    report = grade(release.RELEASE_DIR / f"{name}.ipynb")
    assert report.score == 0 and report.max_score > 0, report.summary()
    assert all(t.message for t in report.tests), "every failed test explains why"


@pytest.mark.parametrize("name", NAMES)
def test_release_is_in_sync(name):
    committed = (release.RELEASE_DIR / f"{name}.ipynb").read_text(encoding="utf-8")
    assert committed == release.render(release.SOURCE_DIR / f"{name}.ipynb"), \
        "the release is stale: run `python -m coursework.release` and commit"


def _solution_lines(source: str) -> list[str]:
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
            inside = True
        elif stripped in ("### END SOLUTION", "### END HIDDEN TESTS"):
            inside = False
        elif inside and len(stripped) >= 16:  # shorter lines ("a = x", "return model") also occur in given code
            lines.append(stripped)
    return lines


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_text_in_release(name):
    source = nbformat.read(release.SOURCE_DIR / f"{name}.ipynb", as_version=4)
    student = nbformat.read(release.RELEASE_DIR / f"{name}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in student.cells if cell.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "HIDDEN TESTS" not in code
    released_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    leaked = [line for cell in source.cells if cell.cell_type == "code"
              for line in _solution_lines(cell.source) if line in released_lines]
    assert not leaked, f"solution lines found in the release: {leaked}"
    assert len(graded_tests(source)) >= 2


def test_strip_regions_keeps_indentation_and_rejects_broken_markers():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert f(1)\n### END HIDDEN TESTS\n"
    assert release.strip_regions(text) == "def f(x):\n    raise NotImplementedError()"
    with pytest.raises(ValueError, match="never closed"):
        release.strip_regions("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without its BEGIN"):
        release.strip_regions("x = 1\n### END SOLUTION\n")


def _notebook_with(tmp_path, name, grade_id, solution_code):
    source = nbformat.read(release.SOURCE_DIR / name, as_version=4)
    for cell in source.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = solution_code
    path = tmp_path / name
    nbformat.write(source, path)
    return path


def test_an_infinite_loop_fails_only_its_tests(tmp_path, monkeypatch):
    monkeypatch.setattr("coursework.grade.DEFAULT_TIMEOUT", 3.0)
    # gd_step is also called by the top-level experiment cell: that cell is stopped too, and the rest still runs.
    hang = "def gd_step(x, g, state, lr):\n    while True:\n        pass\n"
    report = grade(_notebook_with(tmp_path, "01_optimisers.ipynb", "gd_step", hang))
    by_id = {t.id: t for t in report.tests}
    assert not by_id["test_gd"].passed and "Timeout" in by_id["test_gd"].message
    assert by_id["test_adagrad"].passed and by_id["test_momentum"].passed and by_id["test_nesterov"].passed
    assert not by_id["test_ranking"].passed and "TimeoutError" in by_id["test_ranking"].message
    assert report.score == 7


def test_a_submission_that_exits_or_is_not_a_notebook_is_reported(tmp_path):
    report = grade(_notebook_with(tmp_path, "01_optimisers.ipynb", "gd_step", "import os\nos._exit(3)\n"))
    assert report.score == 0 and "without a report" in report.tests[0].message
    broken = tmp_path / "broken" / "01_optimisers.ipynb"
    broken.parent.mkdir()
    broken.write_text("{not json")
    report = grade(broken)
    assert report.score == 0 and "could not read the submission" in report.tests[0].message
    with pytest.raises(FileNotFoundError, match="--assignment"):
        grade(broken, assignment="no_such_assignment")
