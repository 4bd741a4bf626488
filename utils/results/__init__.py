"""Saved results of the longer experiments in ``experiments/``, shipped with the package so that a notebook
opened anywhere (Colab, a downloaded copy) can read them: ``load_result("teacher_student_sweep")``."""
from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load_result(name: str) -> Any:
    """Parse the saved JSON result ``name`` (without ``.json``); a clear error lists the names there are."""
    files = resources.files(__name__)
    path = files / f"{name}.json"
    if not path.is_file():
        known = sorted(p.name.removesuffix(".json") for p in files.iterdir() if p.name.endswith(".json"))
        raise FileNotFoundError(f"no saved result {name!r}; saved results: {', '.join(known)}")
    return json.loads(path.read_text())
