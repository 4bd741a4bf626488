"""Hostile submissions against ``coursework.grade``: each scores no more than an empty submission, the grader always
finishes within its limit and reports what happened, and honest submissions (with IPython magics) score full marks.

Most attacks target a small assignment built here (one helper, two graded functions with hidden tests drawn from the
grading seed), which exercises the same grader as the course's assignments but grades in seconds; the attacks that
depend on an assignment's own helpers run against assignment 02. Every attack edits only what a student can edit:
the cells of the notebook they hand in.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from coursework import release
from coursework.grade import grade, write_report
from coursework.sandbox import Limits, available_isolation

LIMIT = 60.0  # the whole grading of the toy assignment must finish within this (the grader's total_timeout)


def _cell(source, grade_id=None, kind=None, points=None, timeout=None):
    cell = new_code_cell(source)
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": kind == "test", "solution": kind == "solution",
                                     "locked": kind != "solution", "schema_version": 3, "task": False}
        if points:
            cell.metadata["nbgrader"]["points"] = points
        if timeout:
            cell.metadata["coursework"] = {"timeout": timeout}
    return cell


TOY_CELLS = [
    ("import math\n\n\ndef check(value, expected):\n    return abs(value - expected) < 1e-9\n", "helpers", "locked"),
    ("def hypotenuse(a, b):\n    ### BEGIN SOLUTION\n    return math.sqrt(a * a + b * b)\n    ### END SOLUTION\n",
     "hypotenuse", "solution"),
    ("# 2 points\nassert check(hypotenuse(3.0, 4.0), 5.0), 'hypotenuse(3, 4) should be 5'\n"
     "### BEGIN HIDDEN TESTS\nimport random\nhidden = random.Random(GRADING_SEED)\nfor _ in range(5):\n"
     "    a, b = hidden.uniform(1, 100), hidden.uniform(1, 100)\n    assert check(hypotenuse(a, b), math.hypot(a, b))\n"
     "### END HIDDEN TESTS\n", "test_hypotenuse", "test", 2),
    ("def mean(values):\n    ### BEGIN SOLUTION\n    return sum(values) / len(values)\n    ### END SOLUTION\n",
     "mean", "solution"),
    ("# 2 points\nassert check(mean([1.0, 2.0, 6.0]), 3.0)\n### BEGIN HIDDEN TESTS\nimport random\n"
     "hidden = random.Random(GRADING_SEED + 1)\nvalues = [hidden.uniform(-9, 9) for _ in range(hidden.randint(2, 9))]\n"
     "assert check(mean(values), sum(values) / len(values))\n### END HIDDEN TESTS\n", "test_mean", "test", 2),
]


def _toy(folder: Path, solved: bool) -> tuple[Path, Path]:
    """Write the toy instructor source into ``folder/source`` and return (source_dir, student notebook)."""
    cells = [new_markdown_cell("# Toy assignment")]
    for source, grade_id, kind, *points in TOY_CELLS:
        cells.append(_cell(source, grade_id, kind, *points, timeout=5 if kind == "test" else None))
    source_dir = folder / "source"
    source_dir.mkdir(parents=True, exist_ok=True)
    notebook = new_notebook(cells=cells)
    nbformat.write(notebook, source_dir / "toy.ipynb")
    student = notebook if solved else release.student_version(notebook)
    path = folder / "student" / "toy.ipynb"
    path.parent.mkdir(exist_ok=True)
    nbformat.write(student, path)
    return source_dir, path


def _edit(path: Path, replace: dict[str, str] | None = None, append: list[str] = ()) -> Path:
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if replace and grade_id in replace:
            cell.source = replace[grade_id]
    notebook.cells += [new_code_cell(code) for code in append]
    nbformat.write(notebook, path)
    return path


def _grade_toy(tmp_path, replace=None, append=(), **options):
    source_dir, path = _toy(tmp_path, solved=False)
    started = time.monotonic()
    options.setdefault("setup_timeout", 15)  # the toy's cells take well under a second; a hang is stopped sooner
    report = grade(_edit(path, replace, append), source_dir=source_dir, total_timeout=LIMIT, **options)
    seconds = time.monotonic() - started
    assert seconds < LIMIT + 15, f"the grader took {seconds:.0f} s, over its {LIMIT:.0f} s limit"
    return report


WRONG = {"hypotenuse": "def hypotenuse(a, b):\n    return 5.0\n", "mean": "def mean(values):\n    return 3.0\n"}

# Each attack: cells replaced (by grade_id) and cells appended, as a student could hand them in.
ATTACKS = {
    "override builtins.exec": ({**WRONG, "helpers": WRONG["hypotenuse"]}, [
        "import builtins\n_exec = builtins.exec\n\ndef quiet_exec(code, *args, **kwargs):\n    try:\n"
        "        _exec(code, *args, **kwargs)\n    except BaseException:\n        pass\n\nbuiltins.exec = quiet_exec\n"
        "builtins.compile = lambda *a, **k: compile('pass', '<x>', 'exec')\n"]),
    "override helpers and comparisons": (WRONG, [
        "def check(value, expected):\n    return True\n\nimport math\nmath.hypot = lambda *a: 5.0\n"
        "import builtins\nbuiltins.abs = lambda x: 0\nbuiltins.AssertionError = type('Pass', (Exception,), {})\n"]),
    "edit the locked helper cell": ({**WRONG, "helpers": "import math\n\ndef check(value, expected):\n    return True\n"},
                                    []),
    "fake report files and os._exit(0)": (WRONG, [
        "import json, os, pathlib\nreport = {'score': 4, 'max_score': 4, 'tests': []}\n"
        "for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents, pathlib.Path('/tmp')]:\n    try:\n"
        "        (folder / 'toy.grade.json').write_text(json.dumps(report))\n"
        "        (folder / 'junit.xml').write_text('<testsuites><testsuite/></testsuites>')\n    except OSError:\n"
        "        pass\nos._exit(0)\n"]),
    "patch the grader through sys.modules": (WRONG, [
        "import sys, types\nfor name in ('coursework', 'coursework.grade', 'coursework.sandbox', 'pytest'):\n"
        "    fake = types.ModuleType(name)\n    fake.grade = lambda *a, **k: None\n    sys.modules[name] = fake\n"
        "try:\n    import coursework.grade as g\n    g.Report.score = 4\nexcept Exception:\n    pass\n"]),
    "ignore SIGALRM and hang": (
        {"hypotenuse": "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nsignal.signal(signal.SIGTERM, "
                       "signal.SIG_IGN)\n\ndef hypotenuse(a, b):\n    while True:\n        pass\n",
         "mean": WRONG["mean"]}, []),
    "hang while the notebook runs": (WRONG, ["while True:\n    pass\n"]),
    "hold the pipes from a child and exit": (WRONG, [
        "import os, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], "
        "close_fds=False, start_new_session=True)\nos._exit(0)\n"]),
    "print hundreds of MB": (WRONG, [
        "import sys\nblock = 'x' * (1 << 20)\nfor _ in range(400):\n    try:\n        sys.stdout.write(block)\n"
        "    except OSError:\n        break\n", "import os\nfor fd in range(3, 40):\n    try:\n"
        "        os.write(fd, b'\\xff' * 8 + b'x' * 65536)\n    except OSError:\n        pass\n"]),
    "exhaust memory": (WRONG, ["import numpy\nhog = numpy.ones(40 * 2**30 // 8)\n"]),
    "hard-coded answers to the visible tests": (
        {"hypotenuse": "def hypotenuse(a, b):\n    return 5.0\n", "mean": "def mean(values):\n    return 3.0\n"}, []),
    "leak hidden inputs through exceptions": (
        {"hypotenuse": "class LEAK_7_3(Exception):\n    pass\n\ndef hypotenuse(a, b):\n    if (a, b) == (3.0, 4.0):\n"
                       "        return 5.0\n    raise LEAK_7_3(f'LEAKED {a!r} {b!r}')\n",
         "mean": "def mean(values):\n    raise ValueError('LEAKED ' + repr(values))\n"}, []),
}


def test_an_empty_submission_scores_zero_and_the_solution_full_marks(tmp_path):
    report = _grade_toy(tmp_path)
    assert report.score == 0 and all("not implemented" in t.message for t in report.tests), report.summary()
    source_dir, solved = _toy(tmp_path / "solved", solved=True)
    report = grade(solved, source_dir=source_dir, total_timeout=LIMIT)
    assert report.score == report.max_score == 4, report.summary()


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_scores_no_more_than_an_empty_submission(name, tmp_path):
    replace, append = ATTACKS[name]
    report = _grade_toy(tmp_path, replace, append, limits=Limits(memory_bytes=3 * 2**30, file_bytes=8 * 2**20))
    assert report.score == 0, f"{name}: {report.summary()}"
    assert all(t.message for t in report.tests), "every failed test says why"
    text = report.summary() + json.dumps([t.message for t in report.tests])
    assert "LEAKED" not in text and "LEAK_7_3" not in text, "the submission's exception text reached the report"
    if name == "edit the locked helper cell":
        assert any("locked cell helpers was edited" in note for note in report.notes)


def test_a_cell_that_hangs_is_skipped_and_the_rest_graded(tmp_path):
    source_dir, path = _toy(tmp_path, solved=True)
    _edit(path, append=["import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"])
    report = grade(path, source_dir=source_dir, total_timeout=LIMIT, setup_timeout=10)
    assert report.score == 4, report.summary()
    assert any("ran longer than the set-up time limit" in note for note in report.notes), report.notes


def test_a_hang_fails_only_its_own_test(tmp_path):
    source_dir, path = _toy(tmp_path, solved=True)
    _edit(path, {"hypotenuse": "def hypotenuse(a, b):\n    while True:\n        pass\n"})
    started = time.monotonic()
    report = grade(path, source_dir=source_dir, total_timeout=LIMIT)
    by_id = {t.id: t for t in report.tests}
    assert not by_id["test_hypotenuse"].passed and "in time" in by_id["test_hypotenuse"].message
    assert by_id["test_mean"].passed and report.score == 2
    assert time.monotonic() - started < 5 + 40, "the hung call is stopped at the test's 5 s timeout"


def test_hidden_inputs_change_with_the_seed_and_the_seed_is_recorded(tmp_path):
    # A submission that memorised the hidden inputs of one grading fails the next one.
    source_dir, path = _toy(tmp_path, solved=True)
    import random

    hidden = random.Random(1234)
    pairs = {(hidden.uniform(1, 100), hidden.uniform(1, 100)): None for _ in range(5)}
    lookup = {k: (k[0] ** 2 + k[1] ** 2) ** 0.5 for k in pairs} | {(3.0, 4.0): 5.0}
    _edit(path, {"hypotenuse": f"LOOKUP = {lookup!r}\n\ndef hypotenuse(a, b):\n    return LOOKUP[(a, b)]\n"})
    assert grade(path, source_dir=source_dir, seed=1234).tests[0].passed
    report = grade(path, source_dir=source_dir, seed=4321)
    assert not report.tests[0].passed and report.tests[0].message == "a hidden test failed (hypotenuse raised KeyError)"
    json_path, _ = write_report(report, tmp_path / "out")
    assert json.loads(json_path.read_text())["seed"] == 4321


def test_tampering_with_files_does_not_reach_later_gradings(tmp_path):
    import torch
    import utils

    targets = [Path(utils.__file__), Path(torch.__file__), release.SOURCE_DIR / "02_backprop.ipynb",
               Path(release.__file__)]
    before = {path: path.read_bytes() for path in targets}
    attack = "import pathlib\nfor name in %r:\n    try:\n        pathlib.Path(name).write_text('raise SystemExit')\n" \
             "    except OSError:\n        pass\n" % [str(p) for p in targets]
    report = _grade_toy(tmp_path, WRONG, [attack])
    assert report.score == 0
    assert all(path.read_bytes() == data for path, data in before.items()), "a file outside the sandbox changed"
    source_dir, solved = _toy(tmp_path / "again", solved=True)
    assert grade(solved, source_dir=source_dir, total_timeout=LIMIT).score == 4


def test_a_detached_process_cannot_rewrite_the_report_afterwards(tmp_path):
    out = tmp_path / "reports"
    rewrite = (
        "import os, pathlib, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(4)\n"
        f"        for folder in [pathlib.Path({str(out)!r}), *pathlib.Path.cwd().parents]:\n            try:\n"
        "                (folder / 'toy.grade.json').write_text('{\"score\": 4}')\n            except OSError:\n"
        "                pass\n    os._exit(0)\n")
    report = _grade_toy(tmp_path, WRONG, [rewrite])
    json_path, _ = write_report(report, out)
    written = json_path.read_text()
    time.sleep(6)
    assert json_path.read_text() == written and json.loads(written)["score"] == 0


@pytest.mark.skipif(available_isolation() != "bwrap", reason="needs bubblewrap (Debian package bubblewrap)")
def test_the_sandbox_hides_secrets_files_and_network(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEWORK_TEST_SECRET", "s3cr3t")
    probe = (
        "import os, pathlib, socket\n\ndef probe():\n    found = {'env': dict(os.environ), 'uid': os.getuid()}\n"
        f"    found['source'] = pathlib.Path({str(release.SOURCE_DIR)!r}).exists()\n"
        f"    found['tests'] = pathlib.Path({str(Path(__file__).parent)!r}).exists()\n"
        "    try:\n        socket.create_connection(('1.1.1.1', 53), timeout=2)\n        found['network'] = True\n"
        "    except OSError:\n        found['network'] = False\n    return found\n")
    from coursework.grade import Submission

    process = Submission([probe], {}, Limits(), "bwrap", time.monotonic() + 60)
    try:
        found = process.call("probe", (), {}, time.monotonic() + 60)
    finally:
        process.close()
    assert "COURSEWORK_TEST_SECRET" not in found["env"] and "s3cr3t" not in json.dumps(found["env"])
    assert not found["source"] and not found["tests"] and not found["network"]
    assert os.getuid() != 0 or found["uid"] != 0, "as root, the submission runs under an unprivileged user id"


def test_honest_submission_with_magics_scores_full_marks(tmp_path):
    source_dir, path = _toy(tmp_path, solved=True)
    _edit(path, {"mean": "%%time\ndef mean(values):\n    return sum(values) / len(values)\n"},
          ["%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\n",
           "!ls\nfiles = !ls\nprint(files)\n"])
    report = grade(path, source_dir=source_dir, total_timeout=LIMIT)
    assert report.score == 4 and not any("cell" in note for note in report.notes), report.summary()


# --- the same attacks on a course assignment (its own helpers, torch, hidden shapes) ----------------------------
def _assignment_02(tmp_path, replace=None, append=()):
    path = tmp_path / "02_backprop.ipynb"
    path.write_text((release.RELEASE_DIR / "02_backprop.ipynb").read_text())
    return grade(_edit(path, replace, append), total_timeout=240)


def test_attacks_on_assignment_02_score_zero(tmp_path):
    overrides = (
        "import torch, builtins\ntorch.allclose = lambda *a, **k: True\ntorch.Tensor.__eq__ = lambda *a: True\n"
        "def close(a, b):\n    return True\n\ndef autograd_reference(forward, *inputs):\n    return None, inputs\n"
        "builtins.exec = lambda *a, **k: None\n")
    report = _assignment_02(tmp_path, {"conv2d_backward": "def conv2d_backward(x, w, g, stride=1, padding=0):\n"
                                       "    return x, w, w[:, 0, 0, 0]\n"}, [overrides])
    assert report.score == 0, report.summary()


@pytest.mark.parametrize("isolation", ["unshare", "none"])
def test_the_fallbacks_grade_and_contain_a_hang(isolation, tmp_path):
    # Without bubblewrap the grader still grades, records the weaker isolation, and stops a hung call.
    if isolation == "unshare":
        from coursework.sandbox import _works

        if not _works("unshare"):
            pytest.skip("unshare cannot create namespaces here")
    source_dir, path = _toy(tmp_path, solved=True)
    _edit(path, {"hypotenuse": "def hypotenuse(a, b):\n    while True:\n        pass\n"})
    report = grade(path, source_dir=source_dir, total_timeout=LIMIT, isolation=isolation)
    assert report.isolation == isolation and report.score == 2, report.summary()
    assert "in time" in report.tests[0].message


def test_cells_a_student_adds_run_in_order(tmp_path):
    from coursework.grade import sandbox_cells

    source_dir, path = _toy(tmp_path, solved=True)
    _edit(path, append=["ADDED_AT_THE_END = 1\n"])
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.insert(0, new_code_cell("ADDED_FIRST = 1\n"))
    cells, notes = sandbox_cells(nbformat.read(source_dir / "toy.ipynb", as_version=4), notebook)
    assert cells[0] == "ADDED_FIRST = 1\n" and cells[-1] == "ADDED_AT_THE_END = 1\n" and not notes
    assert not any("assert" in cell for cell in cells), "test cells do not run in the submission's process"
