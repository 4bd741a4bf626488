"""utils.teacher_student: the batched descents behind lectures 13 and 16."""
import torch

from utils.teacher_student import descend, objective, spurious_fraction


def test_objective_vanishes_at_the_teacher_and_descend_reports_it():
    k = 4
    assert torch.allclose(objective(torch.eye(k, dtype=torch.float64)[None], k), torch.zeros(1, dtype=torch.float64), atol=1e-12)
    thetas, loss, gradient_norm, taken = descend(k, k, runs=3, steps=200, seed=0)
    assert thetas.shape == (3, k, k) and taken <= 200
    assert torch.allclose(loss, objective(thetas, k))
    assert torch.isfinite(gradient_norm).all()


def test_spurious_fraction_is_deterministic():
    first, second = (spurious_fraction(6, 6, runs=4, steps=300, seed=2) for _ in range(2))
    assert first == second and 0 <= first["spurious_fraction"] <= 1
