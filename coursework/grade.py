"""Grade submitted assignment notebooks: the student's code runs confined, the judging happens here.

    python -m coursework.grade submissions/alice/01_optimisers.ipynb [--assignment NAME] [--out DIR] [--seed N]
    python -m coursework.grade submissions/ --assignment 01_optimisers --out reports/   # a folder: gradebook.csv

How a notebook is graded (the threat model is in ``coursework/README.md``):

1. The cells to run are assembled from the *instructor's* notebook: its locked cells verbatim (a submission's edits to
   them are reported, never run), the submission's solution cells matched by nbgrader ``grade_id``, and cells the
   student added. Test cells and cells marked ``coursework.skip: ["sandbox"]`` do not run there.
2. They run in a separate process (``coursework.sandbox``: own session, fresh folder, minimal environment, rlimits,
   own user id, and no network and no view of instructor files under bubblewrap) in an IPython shell, so magics work.
3. The test cells run *here*, in the grader's process, from the instructor's copy (hidden tests included), with the
   instructor's locked helpers. Each name the solution cells define is a proxy that sends the arguments to the
   submission and receives plain data back (``coursework.harness``: JSON and raw arrays, never pickle); the reference
   answers are computed here. Hidden tests draw their inputs from ``GRADING_SEED``, random per grading and recorded.
4. A test fails with a message that names the function and what went wrong, never a hidden input or expected value
   (anything failing inside a hidden region reads "a hidden test failed"). A call that hangs is killed at the test's
   timeout (``metadata.coursework.timeout``, default 60 s) together with every process the submission started; the
   next test gets a fresh process. The whole grading stops at ``total_timeout``.
5. The report is written by this process alone, atomically, to a folder the submission cannot see.
"""
from __future__ import annotations

import argparse
import ast
import csv
import json
import os
import secrets
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

from coursework import harness
from coursework.release import SOURCE_DIR, hidden_line_ranges
from coursework.sandbox import Limits, Sandbox, SubmissionError, SubmissionTimeout, available_isolation

DEFAULT_TIMEOUT = 60.0
SETUP_TIMEOUT = 180.0


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
    seed: int = 0
    isolation: str = ""
    tests: list[TestResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.assignment}: {self.score:g} / {self.max_score:g} points  ({Path(self.submission).name}, "
                 f"graded in {self.seconds:.1f} s, seed {self.seed}, isolation {self.isolation})"]
        for t in self.tests:
            mark = "PASS" if t.passed else "FAIL"
            lines.append(f"  {mark} {t.id:<28} {t.points:g}/{t.max_points:g}" + (f"  {t.message}" if t.message else ""))
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# --- the instructor notebook ------------------------------------------------------------------------------------
def _meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _skips(cell) -> list[str]:
    return list(cell.metadata.get("coursework", {}).get("skip", []))


def _is_test(cell) -> bool:
    return cell.cell_type == "code" and bool(_meta(cell).get("grade")) and not _meta(cell).get("solution")


def _is_solution(cell) -> bool:
    return cell.cell_type == "code" and bool(_meta(cell).get("solution"))


def _is_remote(cell) -> bool:
    return _is_solution(cell) or bool(cell.metadata.get("coursework", {}).get("remote"))


def graded_tests(source: nbformat.NotebookNode) -> list[dict]:
    """The autograded cells of an instructor notebook: id, points, timeout and code (hidden tests included)."""
    tests = []
    for cell in source.cells:
        if _is_test(cell):
            tests.append({"id": _meta(cell)["grade_id"], "points": float(_meta(cell).get("points", 0)),
                          "timeout": float(cell.metadata.get("coursework", {}).get("timeout", DEFAULT_TIMEOUT)),
                          "source": cell.source})
    if not tests:
        raise ValueError("the instructor notebook has no autograded test cells (nbgrader metadata grade: true)")
    return tests


def defined_names(code: str) -> list[str]:
    """Top-level functions, classes and assigned names of a cell (the names the grader proxies)."""
    from IPython.core.inputtransformer2 import TransformerManager

    names = []
    for node in ast.parse(TransformerManager().transform_cell(code)).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
    return names


def sandbox_cells(source: nbformat.NotebookNode, submission: nbformat.NotebookNode) -> tuple[list[str], list[str]]:
    """The cells the submission's process runs, in order, and notes on what the submission changed.

    The instructor's code cells in order (locked ones verbatim, solution ones from the submission, tests and cells
    skipped in the sandbox left out), each followed by the cells the student added after it."""
    known = {_meta(cell).get("grade_id") for cell in source.cells} - {None}
    notes, by_id, extra, last_id = [], {}, {}, None
    for cell in submission.cells:
        grade_id = _meta(cell).get("grade_id")
        if cell.cell_type != "code":
            continue
        if grade_id in known:
            by_id.setdefault(grade_id, cell)
            last_id = grade_id
        else:  # a cell the student added (or gave an id the instructor's notebook does not have)
            extra.setdefault(last_id, []).append(cell.source)
    cells = list(extra.get(None, []))
    for cell in source.cells:
        grade_id = _meta(cell).get("grade_id")
        theirs = by_id.get(grade_id)
        if cell.cell_type != "code":
            pass
        elif _is_test(cell):
            if theirs is not None and theirs.source.strip() != cell.source.strip():
                notes.append(f"test cell {grade_id} was edited; the instructor's copy was used")
        elif _is_solution(cell):
            if theirs is None:
                notes.append(f"solution cell {grade_id} is missing from the submission")
            elif "sandbox" not in _skips(cell):
                cells.append(theirs.source)
        else:
            if grade_id and theirs is None:
                notes.append(f"locked cell {grade_id} is missing from the submission; the instructor's copy was used")
            elif grade_id and theirs.source.strip() != cell.source.strip():
                notes.append(f"locked cell {grade_id} was edited; the instructor's copy was used")
            if "sandbox" not in _skips(cell):
                cells.append(cell.source)
        if grade_id:
            cells += extra.get(grade_id, [])
    return cells, notes


# --- the submission's process ------------------------------------------------------------------------------------
class Submission:
    """The submission's process, (re)started on demand; a cell that hangs is skipped on the next start."""

    def __init__(self, cells: list[str], files: dict[str, bytes], limits: Limits, isolation: str, deadline: float,
                 setup_timeout: float = SETUP_TIMEOUT):
        self.cells, self.files, self.limits, self.isolation = cells, files, limits, isolation
        self.deadline, self.sandbox, self.skipped, self.errors, self.starts = deadline, None, set(), {}, 0
        self.setup_timeout = setup_timeout

    def _start(self) -> None:
        while self.sandbox is None:
            if time.monotonic() >= self.deadline:
                raise SubmissionTimeout("the grading time limit was reached")
            self.starts += 1
            sandbox = Sandbox(self.files, self.limits, self.isolation)
            running = [i for i in range(len(self.cells)) if i not in self.skipped]
            deadline = min(self.deadline, time.monotonic() + self.setup_timeout)
            current = None
            try:
                sandbox.send({"cells": [self.cells[i] for i in running]}, deadline)
                while True:
                    message = sandbox.receive(deadline, limit=1 << 16)
                    if message.get("ready"):
                        break
                    position = message.get("running", message.get("ran"))
                    current = running[position] if isinstance(position, int) and 0 <= position < len(running) else None
                    if "ran" in message and message.get("error") and current is not None:
                        self.errors[current] = str(message["error"])[:60]
                self.sandbox = sandbox
            except SubmissionError as err:
                sandbox.close()
                if current is None or current in self.skipped:
                    raise  # it failed before running any cell: starting again would not help
                self.skipped.add(current)
                self.errors[current] = ("stopped: it ran longer than the set-up time limit"
                                        if isinstance(err, SubmissionTimeout) else f"stopped: {err}")

    def call(self, name: str, args: tuple, kwargs: dict, deadline: float):
        deadline = min(deadline, self.deadline)
        self._start()
        try:
            self.sandbox.send({"call": name, "args": harness.encode(list(args)),
                               "kwargs": harness.encode(kwargs)}, deadline)
            reply = self.sandbox.receive(deadline)
        except SubmissionError as err:
            self.close()
            raise type(err)(f"{name}: {err}") from None
        if not reply.get("ok"):
            error = str(reply.get("error", "an exception"))[:80]
            raise RemoteError(f"{name} raised {error}" if "defined" not in error else error)
        try:
            result = harness.decode(reply.get("result"))
            returned = harness.decode(reply.get("args") or [])
        except (ValueError, TypeError, KeyError, AttributeError):
            raise RemoteError(f"{name} returned something that is not plain data") from None
        for original, after in zip(args, returned):  # dict arguments (optimizer state) are updated in place
            if isinstance(original, dict) and isinstance(after, dict):
                original.clear()
                original.update({k: _tensors(v) for k, v in after.items()})
        return _tensors(result)

    def close(self) -> None:
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None


class RemoteError(Exception):
    """A student function raised or returned something unusable (the message is safe to show)."""


def _tensors(value):
    """Arrays from the submission as tensors, models rebuilt from the allowed layers; everything else unchanged."""
    import numpy as np
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, list):
        return [_tensors(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_tensors(v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"model", "state"} and isinstance(value["model"], list):
            return build_model(value["model"], value["state"])
        return {k: _tensors(v) for k, v in value.items()}
    return value


def build_model(layers: list, state: dict):
    """An ``nn.Sequential`` rebuilt from a submission's description, only from ``harness.LAYERS``."""
    import torch
    from torch import nn

    def build(spec: list) -> nn.Sequential:
        modules = []
        for item in spec:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "Sequential":
                modules.append(build(item.get("layers", [])))
                continue
            if kind not in harness.LAYERS:
                raise RemoteError(f"the model uses a layer the grader does not accept: {str(kind)[:40]}")
            args = harness.decode(item.get("args", {"__dict__": {}}))
            if not isinstance(args, dict) or set(args) != set(harness.LAYERS[kind]):
                raise RemoteError(f"the model's {kind} layer is described wrongly")
            args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
            modules.append(getattr(nn, kind)(**args))
        return nn.Sequential(*modules)

    try:
        model = build(layers)
        model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()}, strict=True)
    except RemoteError:
        raise
    except Exception:
        raise RemoteError("the returned model could not be rebuilt from its layers and weights") from None
    return model.eval()


class _Proxy:
    def __init__(self, submission: Submission, name: str, clock: dict):
        self.submission, self.name, self.clock = submission, name, clock

    def __call__(self, *args, **kwargs):
        before = time.monotonic()
        self.submission._start()  # (re)starting the submission's process does not count against the test's time
        self.clock["deadline"] += time.monotonic() - before
        return self.submission.call(self.name, args, kwargs, self.clock["deadline"])


# --- running the tests here -----------------------------------------------------------------------------------
def _failure_message(err: BaseException, test: dict, hidden: list[tuple[int, int]]) -> str:
    line = None
    for frame, number in traceback.walk_tb(err.__traceback__):
        if frame.f_code.co_filename == f"<test {test['id']}>":
            line = number
    if line is not None and any(start <= line <= end for start, end in hidden):
        return "a hidden test failed" + (f" ({err})" if isinstance(err, (RemoteError, SubmissionError)) else "")
    if isinstance(err, RemoteError) and "NotImplementedError" in str(err):
        return "not implemented yet (NotImplementedError)"
    if isinstance(err, (RemoteError, SubmissionError)):
        return str(err)
    if isinstance(err, AssertionError):
        return f"assertion failed: {err}"[:300] if str(err) else "assertion failed"
    return f"{type(err).__name__}: {err}"[:300]


def grade(submission: Path | str, assignment: str | None = None, source_dir: Path = SOURCE_DIR,
          seed: int | None = None, total_timeout: float = 3600.0, limits: Limits | None = None,
          isolation: str | None = None, setup_timeout: float = SETUP_TIMEOUT) -> Report:
    """Grade ``submission`` against the instructor notebook ``<source_dir>/<assignment>.ipynb``."""
    submission = Path(submission)
    assignment = assignment or submission.name.split(".")[0]
    source_path = source_dir / f"{assignment}.ipynb"
    if not source_path.exists():
        known = ", ".join(sorted(p.stem for p in source_dir.glob("*.ipynb")))
        raise FileNotFoundError(f"no assignment {assignment!r} in {source_dir}; known: {known}. "
                                "Pass --assignment NAME if the submission was renamed.")
    source = nbformat.read(source_path, as_version=4)
    tests = graded_tests(source)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    isolation = isolation or available_isolation()
    started = time.monotonic()
    report = Report(assignment, str(submission), 0.0, sum(t["points"] for t in tests), 0.0, seed, isolation)
    try:
        raw = submission.read_bytes()
        student = nbformat.reads(raw.decode("utf-8"), as_version=4)
        cells, report.notes = sandbox_cells(source, student)
        problem = None
    except Exception as err:  # unreadable or not a notebook
        raw, cells, problem = b"", [], f"could not read the submission: {type(err).__name__}"

    process = Submission(cells, {"submission.ipynb": raw}, limits or Limits(), isolation, started + total_timeout,
                         setup_timeout)
    clock = {"deadline": started + total_timeout}
    namespace = {"__name__": "__grader__", "GRADING_SEED": seed}
    remote = [name for cell in source.cells if cell.cell_type == "code" and _is_remote(cell)
              for name in defined_names(cell.source)]
    import torch

    default_dtype, rng_state = torch.get_default_dtype(), torch.random.get_rng_state()
    try:  # the instructor's cells run here and may set torch's defaults: restored afterwards
        for cell in source.cells:
            if cell.cell_type == "code" and not _is_test(cell) and not _is_remote(cell) \
                    and "grader" not in _skips(cell) and _meta(cell).get("locked"):
                exec(compile(cell.source, f"<locked {_meta(cell).get('grade_id')}>", "exec"), namespace)
        namespace.update({name: _Proxy(process, name, clock) for name in remote})
        for test in tests:
            t0 = time.monotonic()
            clock["deadline"] = min(t0 + test["timeout"], started + total_timeout)
            passed, message = False, problem or ""
            if problem is None:
                try:
                    exec(compile(test["source"], f"<test {test['id']}>", "exec"), dict(namespace))
                    passed, message = True, ""
                except Exception as err:  # noqa: BLE001 - every failure is a failed test with a reason
                    message = _failure_message(err, test, hidden_line_ranges(test["source"]))
                    if isinstance(err, SubmissionTimeout) or "in time" in message:
                        message += f" (stopped after {time.monotonic() - t0:.0f} s)"
            report.tests.append(TestResult(test["id"], test["points"] if passed else 0.0, test["points"], passed,
                                           message, round(time.monotonic() - t0, 2)))
    finally:
        process.close()
        torch.set_default_dtype(default_dtype)
        torch.random.set_rng_state(rng_state)
    for index, error in sorted(process.errors.items()):
        report.notes.append(f"cell {index + 1} of the submission's code: {error}")
    report.score = sum(t.points for t in report.tests)
    report.seconds = round(time.monotonic() - started, 2)
    return report


# --- reports -------------------------------------------------------------------------------------------------
def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False,
                                     encoding="utf-8") as handle:
        handle.write(text)
        temporary = Path(handle.name)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


def write_report(report: Report, out_dir: Path, stem: str | None = None) -> tuple[Path, Path]:
    """Write ``<stem>.grade.json`` and ``<stem>.grade.txt`` atomically; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = stem or Path(report.submission).name.split(".")[0]
    json_path, text_path = out_dir / f"{stem}.grade.json", out_dir / f"{stem}.grade.txt"
    _write_atomically(json_path, json.dumps(asdict(report), indent=2) + "\n")
    _write_atomically(text_path, report.summary() + "\n")
    return json_path, text_path


def grade_folder(folder: Path, assignment: str, out_dir: Path, **options) -> Path:
    """Grade every ``<student>/<assignment>.ipynb`` or ``<student>.ipynb`` in ``folder``: per-student feedback
    ``<student>.grade.{json,txt}`` and a ``gradebook.csv`` (student, score, max_score, seed, one column per test)."""
    found = sorted(folder.glob(f"*/{assignment}.ipynb")) + sorted(folder.glob("*.ipynb"))
    rows = []
    for path in found:
        student = path.parent.name if path.parent != folder else path.stem
        report = grade(path, assignment, **options)
        write_report(report, out_dir, stem=student)
        rows.append({"student": student, "score": report.score, "max_score": report.max_score, "seed": report.seed,
                     **{t.id: t.points for t in report.tests}})
    out_dir.mkdir(parents=True, exist_ok=True)
    gradebook = out_dir / "gradebook.csv"
    with tempfile.NamedTemporaryFile("w", dir=out_dir, delete=False, newline="", encoding="utf-8") as handle:
        columns = list(rows[0]) if rows else ["student", "score", "max_score", "seed"]
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, gradebook)
    return gradebook


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, help="a notebook, or a folder of submissions (needs --assignment)")
    parser.add_argument("--assignment", help="assignment name (default: the submission's file name)")
    parser.add_argument("--out", type=Path, help="report folder (default: next to the submission)")
    parser.add_argument("--seed", type=int, help="hidden-test seed (default: random, recorded in the report)")
    args = parser.parse_args(argv)
    if args.submission.is_dir():
        if not args.assignment:
            parser.error("grading a folder needs --assignment NAME")
        print(grade_folder(args.submission, args.assignment, args.out or args.submission, seed=args.seed))
        return 0
    report = grade(args.submission, args.assignment, seed=args.seed)
    write_report(report, args.out or args.submission.parent)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
