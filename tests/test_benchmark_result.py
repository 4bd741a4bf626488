"""The saved MNIST benchmark (python benchmarks/mnist_time_to_99.py --save) is complete, passes its own gates, has a
summary that follows from its runs, and is quoted correctly by the README."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mnist_time_to_99", ROOT / "benchmarks" / "mnist_time_to_99.py")
benchmark = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(benchmark)
SAVED = json.loads(benchmark.RESULT.read_text())


def test_saved_run_is_complete_paired_and_robust():
    ours, standard = SAVED["ours"], SAVED["standard"]
    assert SAVED["complete"] and len(ours) >= 5 and len(standard) >= 5, "want five paired seeds of each recipe"
    assert {run["seed"] for run in standard} <= {run["seed"] for run in ours}
    assert all(run["val"][-1] >= benchmark.TARGET for run in ours + standard), "every run ends at 99 % validation"
    tests = [run["test"] for run in ours]
    assert min(tests) >= benchmark.TARGET and sum(tests) / len(tests) >= benchmark.MEAN_TARGET
    assert SAVED["peak_lr"] == benchmark.PEAK_LR


def test_summary_follows_from_the_runs():
    assert SAVED["summary"] == benchmark.summarise(SAVED["ours"], SAVED["standard"])


def test_speedup_meets_the_course_target_on_every_seed():
    summary = SAVED["summary"]
    assert summary["speedup_min"] >= 10 and summary["cpu_speedup_min"] >= 10, summary


def test_readme_quotes_the_saved_figures():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    quoted = re.findall(r"(\d+(?:\.\d+)?)×", section)
    summary = SAVED["summary"]
    allowed = {f"{summary[key]:.1f}" for key in ("speedup_median", "speedup_min", "speedup_max", "cpu_speedup_median",
                                                 "cpu_speedup_min", "cpu_speedup_max")}
    assert quoted and set(quoted) <= allowed, f"README quotes {quoted}; the saved run gives {sorted(allowed)}"
