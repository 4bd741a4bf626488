"""Smallest width at which gradient descent memorises random labels, as the number of points n grows (lecture 14).

Data: n points uniform on the sphere of radius sqrt(d) in R^d (d = 10), labels +-1 uniformly at random, one labelling
per seed. Network: one hidden ReLU layer in the NTK parameterisation (utils.ntk.relu_mlp(d, width, 1, 1, 0.1)),
full-batch gradient descent on sum (f - y)^2 / 2 with step 1/lambda_max of the analytic NTK
(utils.ntk.steps_to_memorise, utils.ntk.smallest_memorising_widths). For each n the widths 2^(k/4) are tried in increasing order; a seed's smallest width
is the first at which every training point is classified correctly within --steps steps.

    python experiments/overparameterisation_sweep.py               # n = 25..200, 10 seeds, 3,000 steps (~8 min of one core)
    python experiments/overparameterisation_sweep.py --ns 25 50 --out /tmp/quick.json

Writes JSON to utils/results/overparameterisation_sweep.json (read with utils.results.load_result).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from utils.ntk import smallest_memorising_widths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ns", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "utils/results/overparameterisation_sweep.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for n in args.ns:
        started = time.perf_counter()
        rows.append({"n": n, "d": 10, "steps": args.steps, "seeds": args.seeds,
                     "smallest_width": smallest_memorising_widths(n, args.seeds, args.steps)})
        print(f"n = {n}: {rows[-1]['smallest_width']} ({time.perf_counter() - started:.0f} s)", flush=True)
    args.out.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
