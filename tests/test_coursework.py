"""The coursework contract: every instructor source scores full marks and every generated student version zero (with a
reason per test) under the sandboxed grader, the committed release is what the generator produces now, no solution
leaks into it, assignments cannot be solved by calling course code, and batch grading writes a gradebook."""
import ast
import csv
import json
import os
import subprocess
import sys

import nbformat
import pytest

from coursework import release
from coursework.grade import grade, grade_folder, graded_tests, write_report

SOURCES = sorted(release.SOURCE_DIR.glob("*.ipynb"))
NAMES = [path.stem for path in SOURCES]
# Assignment 3 trains a CNN for three epochs on one thread (1-2 minutes on an idle core, several under load).
needs_mnist = pytest.mark.needs_data


def test_there_are_four_assignments():
    assert NAMES == ["01_optimisers", "02_backprop", "03_cnn_budget", "04_teacher_student"]


@pytest.fixture(scope="module")
def competing_load():
    """A busy loop on the CPU for the length of the tests that use it: grades must not depend on machine load."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    yield busy
    busy.kill()
    busy.wait()


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs_mnist) if n.startswith("03") else n for n in NAMES])
def test_instructor_source_scores_full_marks_on_a_loaded_cpu(name, tmp_path, competing_load):
    report = grade(release.SOURCE_DIR / f"{name}.ipynb")
    assert competing_load.poll() is None, "the competing process ran throughout"
    assert report.score == report.max_score > 0, report.summary()
    assert not report.notes, report.notes
    json_path, text_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text())["score"] == report.max_score
    assert f"{report.max_score:g} / {report.max_score:g} points" in text_path.read_text()


@pytest.mark.parametrize("name", NAMES)
def test_student_version_scores_zero(name):
    report = grade(release.RELEASE_DIR / f"{name}.ipynb")
    assert report.score == 0 and report.max_score > 0, report.summary()
    assert all("not implemented" in t.message for t in report.tests), report.summary()


@pytest.mark.parametrize("name", NAMES)
def test_release_is_in_sync(name):
    committed = (release.RELEASE_DIR / f"{name}.ipynb").read_text(encoding="utf-8")
    assert committed == release.render(release.SOURCE_DIR / f"{name}.ipynb"), \
        "the release is stale: run `python -m coursework.release` and commit"


def solution_lines(source: str, markers=("SOLUTION", "HIDDEN TESTS")) -> list[str]:
    """Lines (16 characters or longer) inside the given marked regions of a cell."""
    lines, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped in {f"### BEGIN {m}" for m in markers}:
            inside = True
        elif stripped in {f"### END {m}" for m in markers}:
            inside = False
        elif inside and len(stripped) >= 16:  # shorter lines ("a = x", "return model") also occur in given code
            lines.append(stripped)
    return lines


def secret_lines(source: nbformat.NotebookNode) -> set[str]:
    """Lines of an instructor notebook's solutions and hidden tests that no student copy shows."""
    marked = {line for cell in source.cells if cell.cell_type == "code" for line in solution_lines(cell.source)}
    public = {line.strip() for path in sorted(release.RELEASE_DIR.glob("*.ipynb"))
              for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()}
    return marked - public


@pytest.mark.parametrize("name", NAMES)
def test_no_solution_text_in_release(name):
    source = nbformat.read(release.SOURCE_DIR / f"{name}.ipynb", as_version=4)
    student = nbformat.read(release.RELEASE_DIR / f"{name}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in student.cells if cell.cell_type == "code")
    assert "BEGIN SOLUTION" not in code and "HIDDEN TESTS" not in code and "GRADING_SEED" not in code
    released_lines = {line.strip() for cell in student.cells for line in cell.source.splitlines()}
    assert len(secret_lines(source)) >= 5
    leaked = [line for line in secret_lines(source) if line in released_lines]
    assert not leaked, f"solution lines found in the release: {leaked}"
    assert len(graded_tests(source)) >= 2


@pytest.mark.parametrize("name", NAMES)
def test_hidden_tests_draw_from_the_grading_seed(name):
    # Hidden inputs change at every grading, so a submission cannot hard-code the answers to them.
    source = nbformat.read(release.SOURCE_DIR / f"{name}.ipynb", as_version=4)
    hidden = ["\n".join(solution_lines(test["source"], ("HIDDEN TESTS",))) for test in graded_tests(source)]
    with_hidden = [text for text in hidden if text]
    assert with_hidden, "every assignment has hidden tests"
    if name != "03_cnn_budget":  # assignment 3's hidden part is the test set, which the submission never sees
        assert all("GRADING_SEED" in text for text in with_hidden)


def _imported_course_names(code: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("utils"):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_assignments_are_not_solved_by_course_code():
    # What students must write is not in utils: no Adam/AdamW/one-cycle in utils.optim, no conv/pool backward in
    # utils.backprop or utils.convolution, no cubic potential in utils.potentials.
    import inspect

    import utils.backprop
    import utils.convolution
    import utils.optim
    import utils.potentials

    assert not {"Adam", "AdamW", "OneCycle", "one_cycle"} & set(dir(utils.optim))
    for module in (utils.backprop, utils.convolution):
        assert not [name for name in dir(module) if "backward" in name.lower() or "grad" in name.lower()
                    and "mlp" not in name], f"{module.__name__} ships a backward pass beyond the MLP's"
    assert "cubic" not in inspect.getsource(utils.potentials)
    for path in SOURCES:
        source = nbformat.read(path, as_version=4)
        for cell in source.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                imported = _imported_course_names(cell.source)
                assert imported <= {"utils.vision.mnist_cnn"}, f"{path.name}: a solution imports {imported}"


def test_strip_regions_keeps_indentation_and_rejects_broken_markers():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n### BEGIN HIDDEN TESTS\nassert f(1)\n### END HIDDEN TESTS\n"
    assert release.strip_regions(text) == "def f(x):\n    raise NotImplementedError()"
    assert release.hidden_line_ranges(text) == [(5, 7)]
    with pytest.raises(ValueError, match="never closed"):
        release.strip_regions("### BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without its BEGIN"):
        release.strip_regions("x = 1\n### END SOLUTION\n")


def test_batch_grading_writes_a_gradebook_and_feedback(tmp_path):
    submissions = tmp_path / "submissions"
    for student, folder in (("alice", release.SOURCE_DIR), ("bob", release.RELEASE_DIR)):
        (submissions / student).mkdir(parents=True)
        (submissions / student / "02_backprop.ipynb").write_bytes((folder / "02_backprop.ipynb").read_bytes())
    (submissions / "carol.ipynb").write_text("{not json")
    gradebook = grade_folder(submissions, "02_backprop", tmp_path / "reports")
    rows = {row["student"]: row for row in csv.DictReader(gradebook.open())}
    assert set(rows) == {"alice", "bob", "carol"}
    assert float(rows["alice"]["score"]) == float(rows["alice"]["max_score"]) == 14
    assert float(rows["bob"]["score"]) == 0 and float(rows["carol"]["score"]) == 0
    assert rows["alice"]["test_conv2d_backward"] == "5.0" and rows["alice"]["seed"]
    feedback = (tmp_path / "reports" / "carol.grade.txt").read_text()
    assert "could not read the submission" in feedback
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".")], "no temporary files left"
    with pytest.raises(FileNotFoundError, match="--assignment"):
        grade(submissions / "carol.ipynb", assignment="no_such_assignment")


def test_edited_locked_and_test_cells_are_reported_and_not_run(tmp_path):
    notebook = nbformat.read(release.SOURCE_DIR / "02_backprop.ipynb", as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "imports":
            cell.source += "\n\ndef close(a, b):\n    return True\n"
        if grade_id == "test_conv2d_backward":
            cell.source = "assert True\n"
        if grade_id == "conv2d_backward":
            cell.source = "def conv2d_backward(x, weight, grad_out, stride=1, padding=0):\n    return x, weight, weight\n"
    path = tmp_path / "02_backprop.ipynb"
    nbformat.write(notebook, path)
    report = grade(path, seed=0)
    by_id = {t.id: t for t in report.tests}
    assert not by_id["test_conv2d_backward"].passed and by_id["test_max_pool2d_backward"].passed
    assert "locked cell imports was edited; the instructor's copy was used" in report.notes
    assert "test cell test_conv2d_backward was edited; the instructor's copy was used" in report.notes
    assert os.environ.get("COURSEWORK_ISOLATION", "auto") != "auto" or report.isolation in ("bwrap", "unshare", "none")


def test_grading_leaves_torch_defaults_as_they_were():
    import torch

    before = torch.get_default_dtype()
    grade(release.RELEASE_DIR / "01_optimisers.ipynb")  # its locked cell sets float64 in the grader's namespace
    assert torch.get_default_dtype() == before
