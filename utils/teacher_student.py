"""Spurious minima in ReLU teacher-student networks: the batched gradient-descent runs behind lecture 16.

Teacher: k ReLU units with orthonormal weights (the rows of I_k, d = k) and unit output weights. Student: n units
(n = k, or more for over-parameterisation), output weights fixed to 1, weights from Xavier-uniform. Gradient descent
on the closed-form objective F = E[(f_student - f_teacher)^2] / 2 (Safran & Shamir 2018). The full sweep is
``experiments/teacher_student_sweep.py``; its saved results are ``utils.results.load_result("teacher_student_sweep")``.
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
