"""Does node-wise descent's recovery threshold stay at a constant c as n grows? (lecture 16, section vi)

Teacher: n units with weights of variance c log n per coordinate in d = 50 dimensions; Gaussian potential with s = d;
node-wise descent (utils.teacher_student.nodewise_recovery): electrons added one at a time near the origin, each
descended alone with an Armijo step until its gradient is < 1e-6 (at most 3,000 steps). A run recovers the teacher
when every proton has its own electron within 0.05 sqrt(s); it is stuck when some descent did not stop.

The saved results are these five commands (about 20 minutes of one core in all, most of it n = 40):

    python experiments/nodewise_scaling.py --ns 5 10 20                 # c = 0.5, 0.75, 1.0, 1.25, 1.5, 2.0; 100 runs
    python experiments/nodewise_scaling.py --append --ns 5 --cs 2.5 3.0
    python experiments/nodewise_scaling.py --append --ns 10 --cs 3.0
    python experiments/nodewise_scaling.py --append --ns 40 --cs 1.25 1.5 2.0
    python experiments/nodewise_scaling.py --append --ns 40 --cs 1.0 --runs 50

Writes JSON (one row per (n, c), with each run's outcome R/S/U) to utils/results/nodewise_scaling.json (or --out),
read by the notebook with utils.results.load_result("nodewise_scaling").
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from utils.teacher_student import nodewise_recovery


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--cs", type=float, nargs="+", default=[0.5, 0.75, 1.0, 1.25, 1.5, 2.0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "utils" / "results" / "nodewise_scaling.json")
    parser.add_argument("--append", action="store_true", help="add to the results already in --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = json.loads(args.out.read_text()) if args.append and args.out.exists() else []
    for n in args.ns:
        for c in args.cs:
            started = time.perf_counter()
            result = nodewise_recovery(n, c, args.runs)
            result["seconds"] = round(time.perf_counter() - started, 1)
            results.append(result)
            print(f"n = {n:>2}, c = {c:4}: recovered {result['recovered']:>3}, spurious {result['spurious']:>3}, "
                  f"stuck {result['stuck']:>3} of {args.runs}  ({result['seconds']} s)", flush=True)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
