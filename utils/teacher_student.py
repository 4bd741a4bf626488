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
