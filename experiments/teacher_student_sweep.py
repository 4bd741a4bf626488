"""Spurious minima in ReLU teacher-student networks (the sweep behind lecture 16, section v).

Teacher: k ReLU units with orthonormal weights (the rows of I_k, d = k) and unit output weights. Student: n units
(n = k, or more for over-parameterisation), output weights fixed to 1, weights from Xavier-uniform. Gradient
descent on the closed-form objective F = E[(f_student - f_teacher)^2] / 2 (utils.potentials.population_loss / 2,
the objective of Safran & Shamir 2018), step size 5/k, all runs of one k batched into one tensor, at most --steps steps (a run stops early once every
run is stationary, gradient norm < 1e-7). A run ends at a
spurious minimum if, at the end, F > 1e-4 while its gradient norm is < 1e-6 (a stationary point).

    python experiments/teacher_student_sweep.py                    # the full sweep: k = 6..20, 200 runs, 30,000 steps
    python experiments/teacher_student_sweep.py --ks 6 10 --runs 20 --steps 3000 --out /tmp/quick.json

Writes JSON to utils/results/teacher_student_sweep.json (or --out): package data that the notebooks read with
utils.results.load_result("teacher_student_sweep").
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from utils.teacher_student import spurious_fraction


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", type=int, nargs="+", default=list(range(6, 21)))
    parser.add_argument("--extra-units", type=int, nargs="+", default=[0], help="student units beyond k")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "utils" / "results" / "teacher_student_sweep.json")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    parser.add_argument("--append", action="store_true", help="add to the results already in --out")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = json.loads(args.out.read_text()) if args.append and args.out.exists() else []
    for extra in args.extra_units:
        for k in args.ks:
            started = time.perf_counter()
            result = spurious_fraction(k, k + extra, args.runs, args.steps)
            result["seconds"] = round(time.perf_counter() - started, 1)
            results.append(result)
            print(f"k = {k:>2}, student units {k + extra:>2}: spurious {result['spurious_fraction']:6.1%}, "
                  f"unconverged {result['unconverged_fraction']:5.1%}  ({result['seconds']} s)", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
