"""Spurious minima in ReLU teacher-student networks: the batched gradient-descent runs behind lecture 16.

Teacher: k ReLU units with orthonormal weights (the rows of I_k, d = k) and unit output weights. Student: n units
(n = k, or more for over-parameterisation), output weights fixed to 1, weights from Xavier-uniform. Gradient descent
on the closed-form objective F = E[(f_student - f_teacher)^2] / 2 (Safran & Shamir 2018). The full sweep is
``experiments/teacher_student_sweep.py``; its saved results are ``utils.results.load_result("teacher_student_sweep")``.
Also node-wise descent with the Gaussian potential (``nodewise_recovery``; sweep ``experiments/nodewise_scaling.py``)
and the Wilson interval used for every rate in the lecture.
"""
from __future__ import annotations

import math

import torch

from utils.potentials import population_loss

SPURIOUS_LOSS = 1e-4
STATIONARY_GRADIENT = 1e-6


def descend(k: int, students: int, runs: int, steps: int, seed: int = 0
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Run ``runs`` gradient descents at once; return the final weights ``(runs, students, k)``, losses, gradient
    norms and the number of steps taken."""
    g = torch.Generator().manual_seed(seed * 1000 + k * 10 + students)
    thetas = initial_weights(k, students, runs, g).requires_grad_(True)
    lr = 5 / k
    taken = 0
    while taken < steps:
        (grad,) = torch.autograd.grad(objective(thetas, k).sum(), thetas)
        # once every run sits at a stationary point, more steps change nothing: stop early
        if taken % 500 == 0 and (grad.flatten(1).norm(dim=1) < STATIONARY_GRADIENT / 10).all():
            break
        with torch.no_grad():
            thetas -= lr * grad
        taken += 1
    loss = objective(thetas, k)
    (grad,) = torch.autograd.grad(loss.sum(), thetas)
    return thetas.detach(), loss.detach(), grad.flatten(1).norm(dim=1), taken


def initial_weights(k: int, students: int, runs: int, generator: torch.Generator) -> torch.Tensor:
    bound = math.sqrt(6 / (k + students))  # Xavier-uniform for a (students x d) weight matrix, d = k
    return (2 * torch.rand(runs, students, k, generator=generator, dtype=torch.float64) - 1) * bound


def objective(thetas: torch.Tensor, k: int) -> torch.Tensor:
    """F = E[(f_student - f_teacher)^2] / 2 per run, for student weights ``thetas (runs, students, k)``."""
    runs, students = thetas.shape[:2]
    teacher = torch.eye(k, dtype=torch.float64).expand(runs, k, k)
    return population_loss(torch.ones(runs, students, dtype=torch.float64), thetas,
                           torch.ones(runs, k, dtype=torch.float64), teacher, "relu") / 2


def spurious_fraction(k: int, students: int, runs: int, steps: int, seed: int = 0) -> dict:
    """Run ``runs`` gradient descents at once; return the fraction that ends at a spurious minimum and details."""
    _, loss, gradient_norm, taken = descend(k, students, runs, steps, seed)
    spurious = (loss > SPURIOUS_LOSS) & (gradient_norm < STATIONARY_GRADIENT)
    unconverged = ~spurious & ~(loss <= SPURIOUS_LOSS)  # not stationary yet, or not finite
    return {"k": k, "students": students, "runs": runs, "steps": steps, "steps_taken": taken,
            "spurious_fraction": spurious.double().mean().item(),
            "unconverged_fraction": unconverged.double().mean().item(),
            "spurious_losses": sorted(loss[spurious].tolist())}


# --- Node-wise descent with the Gaussian potential (lecture 16, section vi; Panigrahy et al., ITCS 2018) ---------

def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval for a binomial proportion (Wilson, JASA 1927)."""
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials ** 2)) / (1 + z * z / trials)
    return centre - half, centre + half


def pair_sum(u: torch.Tensor, v: torch.Tensor, s: float) -> torch.Tensor:
    """``sum_{i,j} exp(-|u_i - v_j|^2 / s)`` per run, for ``u (runs, k, d)`` and ``v (runs, l, d)``."""
    return torch.exp(-torch.cdist(u, v) ** 2 / s).sum((-2, -1))


def gaussian_loss_gradient(thetas: torch.Tensor, electrons: torch.Tensor, protons: torch.Tensor, s: float
                           ) -> torch.Tensor:
    """Gradient in each of ``thetas`` of the population loss with unit output weights and the Gaussian potential,
    the other electrons and the protons held fixed: ``2 sum_j grad Phi(theta, e_j) - 2 sum_j grad Phi(theta, w_j)``."""
    def pull(sources):  # sum_j grad_theta Phi(theta, source_j) = -(2/s) sum_j (theta - source_j) Phi(theta, source_j)
        phi = torch.exp(-torch.cdist(thetas, sources) ** 2 / s)
        return -(2 / s) * (phi.sum(-1, keepdim=True) * thetas - phi @ sources)
    return 2 * (pull(electrons) - pull(protons))


def armijo_descent(x: torch.Tensor, loss, gradient, step: float, tol: float = 1e-6, max_steps: int = 3000
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched gradient descent on ``x (runs, k, d)``; each run halves its step until its loss drops by
    ``>= step/2 |gradient|^2`` (Armijo) and stops moving once its gradient norm is below ``tol``, so a run's path does
    not depend on the others in the batch. Returns the end points and which runs stopped within ``max_steps``."""
    for _ in range(max_steps):
        g = gradient(x)
        squared = (g ** 2).sum((-2, -1))
        active = squared.sqrt() >= tol
        if not active.any():
            break
        rate, current = torch.where(active, step, 0.0), loss(x)
        for _ in range(30):
            trial = x - rate[:, None, None] * g
            too_long = active & (loss(trial) > current - rate / 2 * squared)
            if not too_long.any():
                break
            rate = torch.where(too_long, rate / 2, rate)
        x = trial
    return x, (gradient(x) ** 2).sum((-2, -1)).sqrt() < tol


def nodewise_descent(protons: torch.Tensor, s: float, starts: torch.Tensor, max_steps: int = 3000
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Add electrons one at a time at ``starts[:, i]`` (``(runs, n, d)``), descend on the new one alone (the earlier
    ones frozen) with an Armijo step from ``s/4``; returns the electrons and whether every descent stopped."""
    runs, n, d = protons.shape
    electrons, converged = protons.new_empty(runs, 0, d), torch.ones(runs, dtype=torch.bool)
    for i in range(n):
        new, stopped = armijo_descent(starts[:, i:i + 1], lambda x: 2 * (pair_sum(x, electrons, s) - pair_sum(x, protons, s)),
                                      lambda x: gaussian_loss_gradient(x, electrons, protons, s), step=s / 4,
                                      max_steps=max_steps)
        electrons, converged = torch.cat([electrons, new], 1), converged & stopped
    return electrons, converged


def nodewise_recovery(n: int, c: float, runs: int, d: int = 50, seed: int = 0, radius: float = 0.05,
                      max_steps: int = 3000) -> dict:
    """Node-wise descent against ``runs`` random teachers with ``n`` units of variance ``c log n`` per coordinate in
    ``d`` dimensions, Gaussian potential with ``s = d``, starts ``1e-3 N(0, I)``. Each run is ``R`` (recovered: every
    proton has its own electron within ``radius * sqrt(s)``), ``S`` (spurious: every descent stopped, no recovery) or
    ``U`` (stuck: some descent did not stop). The first ``m`` runs do not depend on ``runs``."""
    s = float(d)
    teachers = torch.Generator().manual_seed(seed * 100_003 + n * 101 + round(100 * c))
    starters = torch.Generator().manual_seed(seed * 100_003 + n * 101 + round(100 * c) + 50_000)
    protons = math.sqrt(c * math.log(n)) * torch.randn(runs, n, d, generator=teachers, dtype=torch.float64)
    starts = 1e-3 * torch.randn(runs, n, d, generator=starters, dtype=torch.float64)
    electrons, converged = nodewise_descent(protons, s, starts, max_steps)
    distance = torch.cdist(protons, electrons) / math.sqrt(s)
    own = torch.tensor([len(set(row.tolist())) == n for row in distance.argmin(-1)])  # one electron per proton
    worst = distance.amin(-1).amax(-1)
    recovered = own & (worst < radius)
    outcomes = "".join("R" if r else ("S" if ok else "U") for r, ok in zip(recovered.tolist(), converged.tolist()))
    return {"n": n, "c": c, "d": d, "runs": runs, "seed": seed, "recovered": outcomes.count("R"),
            "spurious": outcomes.count("S"), "stuck": outcomes.count("U"), "outcomes": outcomes,
            "median_worst_match": worst.median().item()}
