"""Export the student-facing repository: everything tracked except instructor sources, the grader and its tests.

    python -m coursework.export build/student-repo        # (make student-repo)

The instructor keeps this repository private; students get the export (push it to a public repository or hand out
an archive). What stays behind is listed in ``INSTRUCTOR_ONLY``: the instructor notebooks with solutions and hidden
tests (``coursework/source/``), the grader and its sandbox, the release generator, this exporter, and the tests that
grade the solutions or attack the grader. What goes out includes the release notebooks, lectures, notebooks,
``utils`` and the student side of the grader (``coursework/harness.py``, which students can use to check that their
functions return data the grader can receive). ``tests/test_grader_export.py`` checks every export for each
solution line and hidden-test line of the sources.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTOR_ONLY = ("coursework/source/", "coursework/grade.py", "coursework/sandbox.py", "coursework/release.py",
                   "coursework/export.py", "coursework/README.md", "tests/test_coursework.py",
                   "tests/test_grader_attacks.py", "tests/test_grader_export.py")
STUDENT_README = """# Coursework

Four assignments, one notebook each in `release/`. Replace every `raise NotImplementedError()` with your code and run
the visible tests in the notebook; hand in the notebook. Your instructor grades it with hidden tests whose inputs are
drawn afresh at each grading, in a separate process that calls your functions and receives plain data back (see
`harness.py`: numbers, arrays, tensors, and for assignment 3 an `nn.Sequential` of standard layers). Do not edit the
locked cells: the grader uses its own copy of them and reports edits. IPython magics (`%matplotlib inline`, `!ls`)
work as in Jupyter.
"""


def student_files(root: Path = ROOT) -> list[str]:
    """Repository files (tracked, or new and not ignored) that go to students, relative to ``root``."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=root,
                            check=True, capture_output=True).stdout.decode().split("\0")
    return sorted(path for path in listed if path and (root / path).is_file()
                  and not any(path == x or path.startswith(x) for x in INSTRUCTOR_ONLY))


def export(destination: Path, root: Path = ROOT) -> list[str]:
    """Write the student repository to ``destination`` (replaced if it exists); return the files written."""
    if destination.resolve() == root.resolve() or root.resolve() in destination.resolve().parents and \
            not str(destination.resolve().relative_to(root.resolve())).startswith("build"):
        raise ValueError(f"export to a folder outside the repository (or under build/), not {destination}")
    if destination.exists():
        shutil.rmtree(destination)
    files = student_files(root)
    for path in files:
        target = destination / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / path, target)
    (destination / "coursework" / "README.md").write_text(STUDENT_README, encoding="utf-8")
    return files + ["coursework/README.md"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("destination", type=Path)
    args = parser.parse_args(argv)
    files = export(args.destination)
    print(f"wrote {len(files)} files to {args.destination}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
