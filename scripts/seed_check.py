"""Is a notebook's headline result a lucky run? Re-run the whole notebook with other seeds and record its asserts.

    python scripts/seed_check.py notebooks/08_imagenet_alexnet.ipynb --seeds 0 1 2
    python scripts/seed_check.py notebooks/07_cnn_mnist.ipynb --seeds 0 1 2 --store   # and keep seed 0's run

A checked notebook has one cell tagged ``parameters`` that sets ``SEED = 0``; every random choice of its training runs
(initial weights, data order, dropout) derives from ``SEED``, while data splits stay fixed. For each seed the notebook
is executed top to bottom with ``SEED = k`` injected after that cell (papermill's convention); a run *passes* when every
cell, and so every assert, succeeds. The headline values named in ``HEADLINES`` are read from the kernel at the end.
Results go to ``utils/results/seed_check.json`` with a hash of the notebook's code, so that
``tests/test_seed_check.py`` can tell a stale check from a current one; ``--store`` writes the ``SEED = 0`` run back
to the notebook, as ``run_notebooks.py`` would.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import statistics
import sys
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError

from run_notebooks import execute

RESULT = Path(__file__).resolve().parents[1] / "utils" / "results" / "seed_check.json"
MARKER = "SEED-CHECK "

# notebook stem -> headline name -> (expression evaluated in the kernel, the notebook's assert: ">=" or "<=", bound)
HEADLINES: dict[str, dict[str, tuple[str, str, float]]] = {
    "06_mlp_mnist": {
        "init comparison, worse validation accuracy": (
            'min(h.last["val_accuracy"] for h in histories.values())', ">=", 0.965),
        "validation accuracy": ("val_accuracy", ">=", 0.98),
        "test accuracy": ('scores["accuracy"]', ">=", 0.98),
    },
    "07_cnn_mnist": {
        "validation accuracy": ("val_accuracy", ">=", 0.99),
        "test accuracy": ("test_accuracy", ">=", 0.99),
    },
    "08_imagenet_alexnet": {
        "test accuracy": ("test_accuracy", ">=", 0.80),
        "training seconds": ("training_seconds", "", 0.0),
    },
    "10_speech_recognition": {
        "isolated digits, test accuracy": ("test_accuracy", ">=", 0.97),
        "connected digits, test DER": ("test_der", "<=", 0.10),
        "isolated digits, training seconds": ("cnn_seconds", "", 0.0),
        "connected digits, training seconds": ("ctc_seconds", "", 0.0),
    },
    "11_rnn_translation": {
        "beam search BLEU": ('beam_scores["bleu"]', ">=", 25.0),
        "greedy BLEU": ('greedy_scores["bleu"]', "", 0.0),
        "training seconds": ("training_seconds", "", 0.0),
        "attention, mean largest weight": ("peak", "", 0.0),
        "attention, mean weight on <eos>": ("on_eos", "", 0.0),
    },
}


def code_hash(notebook: nbformat.NotebookNode) -> str:
    """SHA-256 of the notebook's code cells: a change to any of them makes a recorded check stale."""
    code = "\n\0\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return hashlib.sha256(code.encode()).hexdigest()


def with_seed(notebook: nbformat.NotebookNode, seed: int, probe: str | None) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with ``SEED = seed`` after its parameters cell and, if given, ``probe`` appended."""
    copy = nbformat.from_dict(json.loads(json.dumps(notebook)))
    tagged = [i for i, cell in enumerate(copy.cells) if "parameters" in cell.metadata.get("tags", [])]
    if len(tagged) != 1 or "SEED = 0" not in copy.cells[tagged[0]].source:
        raise SystemExit("the notebook needs exactly one cell tagged 'parameters' that sets SEED = 0")
    if seed != 0:
        copy.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(
            f"SEED = {seed}", metadata={"tags": ["injected-parameters"]}))
    if probe:
        copy.cells.append(nbformat.v4.new_code_cell(probe))
    return copy


def probe_source(headlines: dict[str, tuple[str, str, float]]) -> str:
    expressions = "{" + ", ".join(f"{name!r}: float({expr})" for name, (expr, _, _) in headlines.items()) + "}"
    return f"import json as _json\nprint({MARKER!r} + _json.dumps({expressions}))"


def run(path: Path, seed: int, timeout: int, store: bool) -> dict:
    notebook = nbformat.read(path, as_version=4)
    headlines = HEADLINES[path.stem]
    executed = with_seed(notebook, seed, probe_source(headlines))
    try:
        executed, seconds = execute(path, timeout, executed)
    except CellExecutionError as error:  # the client filled ``executed`` up to the failing cell
        failing = next((cell.source.splitlines()[0] for cell in executed.cells if cell.cell_type == "code" and any(
            output.output_type == "error" for output in cell.get("outputs", []))), "?")
        return {"seed": seed, "passed": False, "error": f"{error.ename}: {error.evalue}", "cell": failing}
    text = "".join(output.get("text", "") for output in executed.cells[-1].outputs)
    values = json.loads(text.split(MARKER, 1)[1])
    if store and seed == 0:
        executed.cells.pop()  # the probe
        nbformat.write(executed, path)
    return {"seed": seed, "passed": True, "seconds": round(seconds, 1), "values": values}


def record(path: Path, runs: list[dict]) -> dict:
    """Merge ``runs`` into the saved results under a lock (several notebooks may be checked at once); return the
    notebook's entry."""
    notebook = nbformat.read(path, as_version=4)
    with open(__file__) as lock:  # this script's own file is the lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        saved = json.loads(RESULT.read_text()) if RESULT.exists() else {}
        entry = {"code_sha256": code_hash(notebook), "threads": int(os.environ.get("OMP_NUM_THREADS", 0)) or None,
                 "headlines": {name: {"expression": e, "assert": op, "bound": b}
                               for name, (e, op, b) in HEADLINES[path.stem].items()},
                 "runs": sorted(runs, key=lambda r: r["seed"])}
        saved[path.stem] = entry
        tmp = RESULT.with_suffix(".tmp")
        tmp.write_text(json.dumps(dict(sorted(saved.items())), indent=1) + "\n")
        tmp.replace(RESULT)
    return entry


def margins(entry: dict) -> dict[str, dict[str, float]]:
    """Per headline: min, mean, max over the passing runs and the worst run's margin to the notebook's assert."""
    out = {}
    for name, spec in entry["headlines"].items():
        values = [run["values"][name] for run in entry["runs"] if run["passed"]]
        if not values:
            continue
        row = {"min": min(values), "mean": statistics.mean(values), "max": max(values)}
        if spec["assert"] == ">=":
            row["margin"] = row["min"] - spec["bound"]
        elif spec["assert"] == "<=":
            row["margin"] = spec["bound"] - row["max"]
        out[name] = row
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    parser.add_argument("--store", action="store_true", help="write the SEED = 0 run back to the notebook")
    args = parser.parse_args(argv)
    if args.notebook.stem not in HEADLINES:
        raise SystemExit(f"no headlines for {args.notebook.stem}; checked notebooks: {', '.join(HEADLINES)}")
    os.environ["TQDM_DISABLE"] = "1"
    runs = []
    for seed in args.seeds:
        runs.append(run(args.notebook, seed, args.timeout, args.store))
        print(json.dumps(runs[-1]), flush=True)
    for name, row in margins(record(args.notebook, runs)).items():
        extra = f", margin {row['margin']:+.4f}" if "margin" in row else ""
        print(f"{name}: min {row['min']:.4f}, mean {row['mean']:.4f}, max {row['max']:.4f}{extra}")
    return 0 if all(run["passed"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
