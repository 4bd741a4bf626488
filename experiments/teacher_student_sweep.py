"""Spurious minima in ReLU teacher-student networks (the sweep behind lecture 13, section v).

Teacher: k ReLU units with orthonormal weights (the rows of I_k, d = k) and unit output weights. Student: n units
(n = k, or more for over-parameterisation), output weights fixed to 1, weights from Xavier-uniform. Gradient
descent on the closed-form objective F = E[(f_student - f_teacher)^2] / 2 (utils.potentials.population_loss / 2,
the objective of Safran & Shamir 2018), step size 5/k, all runs of one k batched into one tensor, at most --steps steps (a run stops early once every
run is stationary, gradient norm < 1e-7). A run ends at a
spurious minimum if, at the end, F > 1e-4 while its gradient norm is < 1e-6 (a stationary point).

    python experiments/teacher_student_sweep.py                    # the full sweep: k = 6..20, 200 runs, 30,000 steps
    python experiments/teacher_student_sweep.py --ks 6 10 --runs 20 --steps 3000 --out /tmp/quick.json

Writes JSON to experiments/results/teacher_student_sweep.json (or --out).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from utils.potentials import population_loss

SPURIOUS_LOSS = 1e-4
STATIONARY_GRADIENT = 1e-6


def spurious_fraction(k: int, students: int, runs: int, steps: int, seed: int = 0) -> dict:
    """Run ``runs`` gradient descents at once; return the fraction that ends at a spurious minimum and details."""
    g = torch.Generator().manual_seed(seed * 1000 + k * 10 + students)
    teacher = torch.eye(k, dtype=torch.float64).expand(runs, k, k)
    ones_teacher = torch.ones(runs, k, dtype=torch.float64)
    ones_student = torch.ones(runs, students, dtype=torch.float64)
    bound = math.sqrt(6 / (k + students))  # Xavier-uniform for a (students x d) weight matrix, d = k
    thetas = ((2 * torch.rand(runs, students, k, generator=g, dtype=torch.float64) - 1) * bound).requires_grad_(True)
    lr = 5 / k
    def objective():
        return population_loss(ones_student, thetas, ones_teacher, teacher, "relu") / 2

    taken = 0
    while taken < steps:
        (grad,) = torch.autograd.grad(objective().sum(), thetas)
        # once every run sits at a stationary point, more steps change nothing: stop early
        if taken % 500 == 0 and (grad.flatten(1).norm(dim=1) < STATIONARY_GRADIENT / 10).all():
            break
        with torch.no_grad():
            thetas -= lr * grad
        taken += 1
    loss = objective()
    (grad,) = torch.autograd.grad(loss.sum(), thetas)
    loss, gradient_norm = loss.detach(), grad.flatten(1).norm(dim=1)
    spurious = (loss > SPURIOUS_LOSS) & (gradient_norm < STATIONARY_GRADIENT)
    unconverged = ~spurious & ~(loss <= SPURIOUS_LOSS)  # not stationary yet, or not finite
    return {"k": k, "students": students, "runs": runs, "steps": steps, "steps_taken": taken,
            "spurious_fraction": spurious.double().mean().item(),
            "unconverged_fraction": unconverged.double().mean().item(),
            "spurious_losses": sorted(loss[spurious].tolist())}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", type=int, nargs="+", default=list(range(6, 21)))
    parser.add_argument("--extra-units", type=int, nargs="+", default=[0], help="student units beyond k")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "teacher_student_sweep.json")
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
