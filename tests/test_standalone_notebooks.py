"""Notebooks open anywhere: the course package, built as a wheel and installed non-editably, is all a notebook needs.

Each quick notebook runs in a fresh kernel whose working folder is an empty temporary folder and whose only course
code is the wheel installed with `pip install --target` (PYTHONPATH puts it ahead of the editable install); the
repository is on no search path. The slow notebooks (over a minute) and the ones that need data sets are left to
nbval, which runs them in place.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
QUICK = ("01_", "02_", "03_", "04_", "05_")  # each under ~30 s on 2 cores; nbval runs them all in place too
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if p.name.startswith(QUICK))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The course package as a wheel (built from a copy of its sources) installed into a folder of its own."""
    work = tmp_path_factory.mktemp("standalone")
    source = work / "source"
    source.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", source)
    for package in ("utils", "coursework"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(work / "dist"),
                    str(source)], check=True)
    wheel, = (work / "dist").glob("dl_course_utils-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    results = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "utils" / "results").glob("*.json"))
    assert results and set(results) <= names, "the saved results must travel in the wheel as package data"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(work / "site"), str(wheel)], check=True)
    return work / "site"


def test_the_quick_notebooks_are_found():
    assert len(NOTEBOOKS) >= 5, [p.name for p in NOTEBOOKS]


CHECK = """import sys, utils
from pathlib import Path
print(utils.__file__)
assert Path(utils.__file__).resolve().is_relative_to(Path({site!r}).resolve()), utils.__file__
assert not any(Path(p or ".").resolve() == Path({root!r}) for p in sys.path), sys.path
"""


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_from_an_empty_folder_with_the_installed_package(path, installed, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(CHECK.format(site=str(installed), root=str(ROOT))))
    monkeypatch.setenv("PYTHONPATH", str(installed))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MPLBACKEND", "agg")
    NotebookClient(notebook, timeout=240, kernel_name="python3",
                   resources={"metadata": {"path": str(empty)}}).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    assert printed.strip().startswith(str(installed)), printed


@pytest.mark.needs_data
def test_the_installed_package_verifies_and_caches_data_outside_any_checkout(installed, tmp_path):
    """On Colab there is no checkout: the manifest travels in the package and the cache is the user's cache folder."""
    mirror = os.environ.get("COURSE_DATA_MIRROR")
    if not mirror:
        pytest.skip("needs COURSE_DATA_MIRROR (the offline data copies)")
    empty, home = tmp_path / "empty", tmp_path / "home"
    empty.mkdir()
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("COURSE_DATA_ROOT", "XDG_CACHE_HOME")}
    env.update(PYTHONPATH=str(installed), HOME=str(home), COURSE_DATA_MIRROR=str(Path(mirror).resolve()))
    script = ("from utils.data import mnist_tensors, data_root\n"
              "images, labels = mnist_tensors(train=False)\n"
              "print(data_root(), tuple(images.shape), int(labels.sum()))\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=empty, env=env, capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    root, shape = done.stdout.split()[0], done.stdout.split()[1:4]
    assert Path(root) == home / ".cache" / "dl-course-data"
    assert "".join(shape) == "(10000,28,28)"
    assert (home / ".cache" / "dl-course-data" / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").is_file()
