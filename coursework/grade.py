"""Grade a submitted assignment notebook with pytest and write a score report.

    python -m coursework.grade path/to/01_optimisers.ipynb [--assignment 01_optimisers] [--out DIR]

The tests are the instructor source's autograded cells (nbgrader metadata ``grade: true`` with
``points``), hidden tests included; the submission supplies every other code cell. The submission's
cells run first, in order (a cell that raises or hangs past the timeout is noted and skipped), then each test cell
becomes one pytest test with its own timeout. A test
that raises, fails an assert or runs too long scores 0 with a readable message; the grader itself
never crashes on a bad submission, and pytest runs in a separate process, so even a submission that
exits or hangs the interpreter is reported, not fatal. Writes ``<name>.grade.json`` and
``<name>.grade.txt`` to ``--out`` (default: next to the submission).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from coursework.release import SOURCE_DIR

DEFAULT_TIMEOUT = 60.0

_TEST_MODULE = r'''
import json
import pathlib
import signal

import pytest

CELLS = json.loads(pathlib.Path(__file__).with_name("cells.json").read_text(encoding="utf-8"))


def _too_long(signum, frame):
    raise TimeoutError(f"the cell ran longer than {CELLS['cell_timeout']:g} s")


@pytest.fixture(scope="session")
def namespace():
    # Like a notebook run with errors allowed: a cell that raises or hangs is noted and the next one runs.
    # (pytest-timeout runs with timeout_func_only, so this alarm does not collide with the per-test one.)
    names, errors = {"__name__": "__main__"}, []
    signal.signal(signal.SIGALRM, _too_long)
    for index, code in enumerate(CELLS["setup"]):
        signal.setitimer(signal.ITIMER_REAL, CELLS["cell_timeout"])
        try:
            exec(compile(code, f"<submission cell {index}>", "exec"), names)
        except Exception as err:
            errors.append(f"submission cell {index} raised {type(err).__name__}")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    return names, errors


@pytest.mark.parametrize("test", [pytest.param(t, id=t["id"], marks=pytest.mark.timeout(t["timeout"]))
                                  for t in CELLS["tests"]])
def test_cell(test, namespace):
    names, errors = namespace
    try:
        exec(compile(test["source"], f"<test {test['id']}>", "exec"), names)
    except NotImplementedError:
        pytest.fail("not implemented yet (NotImplementedError)", pytrace=False)
    except AssertionError as err:
        pytest.fail(f"assertion failed: {err}" if str(err) else "assertion failed", pytrace=False)
    except Exception as err:
        earlier = f" (earlier: {'; '.join(errors)})" if errors else ""
        pytest.fail(f"{type(err).__name__}: {err}{earlier}", pytrace=False)
'''


@dataclass
class TestResult:
    id: str
    points: float
    max_points: float
    passed: bool
    message: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    assignment: str
    submission: str
    score: float
    max_score: float
    seconds: float
    tests: list[TestResult] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.assignment}: {self.score:g} / {self.max_score:g} points  ({self.submission}, "
                 f"graded in {self.seconds:.1f} s)"]
        for t in self.tests:
            mark = "PASS" if t.passed else "FAIL"
            lines.append(f"  {mark} {t.id:<28} {t.points:g}/{t.max_points:g}" + (f"  {t.message}" if t.message else ""))
        return "\n".join(lines)


def _python_source(cell_source: str) -> str:
    """Cell source with IPython syntax (magics, ``!`` commands) turned into plain Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def graded_tests(source: nbformat.NotebookNode) -> list[dict]:
    """The autograded cells of an instructor notebook: id, points, timeout and code."""
    tests = []
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            tests.append({"id": meta["grade_id"], "points": float(meta.get("points", 0)),
                          "timeout": float(cell.metadata.get("coursework", {}).get("timeout", DEFAULT_TIMEOUT)),
                          "source": _python_source(cell.source)})
    if not tests:
        raise ValueError("the instructor notebook has no autograded test cells (nbgrader metadata grade: true)")
    return tests


def _submission_cells(submission: nbformat.NotebookNode, test_ids: set[str]) -> list[str]:
    cells = []
    for cell in submission.cells:
        if cell.cell_type != "code" or cell.metadata.get("nbgrader", {}).get("grade_id") in test_ids:
            continue
        cells.append(_python_source(cell.source))
    return cells


def _parse_junit(path: Path) -> dict[str, tuple[bool, str, float]]:
    results = {}
    for case in ElementTree.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        test_id = name[name.index("[") + 1:-1] if "[" in name else name
        problem = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        message = ""
        if problem is not None:
            message = (problem.get("message") or problem.text or problem.tag).strip().splitlines()[0]
            message = message.removeprefix("Failed: ")[:300]
        results[test_id] = (problem is None, message, float(case.get("time", 0)))
    return results


def grade(submission: Path | str, assignment: str | None = None, source_dir: Path = SOURCE_DIR,
          total_timeout: float = 1800.0) -> Report:
    """Grade ``submission`` against the instructor source ``<source_dir>/<assignment>.ipynb``."""
    submission = Path(submission)
    assignment = assignment or submission.stem
    source_path = source_dir / f"{assignment}.ipynb"
    if not source_path.exists():
        known = ", ".join(sorted(p.stem for p in source_dir.glob("*.ipynb")))
        raise FileNotFoundError(f"no assignment {assignment!r} in {source_dir}; known: {known}. "
                                "Pass --assignment NAME if the submission was renamed.")
    tests = graded_tests(nbformat.read(source_path, as_version=4))
    started = time.perf_counter()
    try:
        student = nbformat.read(submission, as_version=4)
        setup, problem = _submission_cells(student, {t["id"] for t in tests}), None
    except Exception as err:  # unreadable or not a notebook
        setup, problem = [], f"could not read the submission: {type(err).__name__}: {err}"

    results: dict[str, tuple[bool, str, float]] = {}
    if problem is None:
        with tempfile.TemporaryDirectory(prefix="grade-") as work:
            work = Path(work)
            cells = {"setup": setup, "tests": tests, "cell_timeout": DEFAULT_TIMEOUT}
            (work / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
            (work / "test_submission.py").write_text(_TEST_MODULE, encoding="utf-8")
            env = {**os.environ, "MPLBACKEND": "Agg", "TQDM_DISABLE": "1"}
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "timeout_method=signal", "-o", "timeout_func_only=true",
                       "--junitxml", str(work / "junit.xml"), str(work / "test_submission.py")]
            try:
                subprocess.run(command, cwd=work, env=env, capture_output=True, timeout=total_timeout)
                if (work / "junit.xml").exists():
                    results = _parse_junit(work / "junit.xml")
                else:
                    problem = "the test run ended without a report (the submission may have killed the interpreter)"
            except subprocess.TimeoutExpired:
                problem = f"grading stopped after {total_timeout:.0f} s"

    report = Report(assignment, str(submission), 0.0, sum(t["points"] for t in tests), 0.0)
    for t in tests:
        passed, message, seconds = results.get(t["id"], (False, problem or "not run", 0.0))
        report.tests.append(TestResult(t["id"], t["points"] if passed else 0.0, t["points"], passed, message, seconds))
    report.score = sum(t.points for t in report.tests)
    report.seconds = time.perf_counter() - started
    return report


def write_report(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write ``<stem>.grade.json`` and ``<stem>.grade.txt``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = Path(report.submission).stem
    json_path, text_path = out_dir / f"{stem}.grade.json", out_dir / f"{stem}.grade.txt"
    json_path.write_text(json.dumps(asdict(report), indent=2) + "\n", encoding="utf-8")
    text_path.write_text(report.summary() + "\n", encoding="utf-8")
    return json_path, text_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path)
    parser.add_argument("--assignment", help="assignment name (default: the submission's file name)")
    parser.add_argument("--out", type=Path, help="report folder (default: next to the submission)")
    args = parser.parse_args(argv)
    report = grade(args.submission, args.assignment)
    write_report(report, args.out or args.submission.parent)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
