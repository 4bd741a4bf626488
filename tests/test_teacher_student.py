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


def test_wilson_matches_scipy():
    from scipy.stats import binomtest, norm

    from utils.teacher_student import wilson
    for successes, trials in ((0, 200), (7, 20), (195, 200), (100, 100)):
        reference = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson(successes, trials, z=norm.ppf(0.975))
        assert abs(low - reference.low) < 1e-12 and abs(high - reference.high) < 1e-12


def test_gaussian_loss_gradient_matches_autograd():
    from utils.potentials import population_loss
    from utils.teacher_student import gaussian_loss_gradient
    g = torch.Generator().manual_seed(0)
    thetas = torch.randn(3, 4, 5, generator=g, dtype=torch.float64, requires_grad=True)
    protons, s = torch.randn(3, 6, 5, generator=g, dtype=torch.float64), 5.0
    loss = population_loss(torch.ones(3, 4, dtype=torch.float64), thetas, torch.ones(3, 6, dtype=torch.float64),
                           protons, "gaussian", s=s).sum()
    (expected,) = torch.autograd.grad(loss, thetas)
    assert torch.allclose(gaussian_loss_gradient(thetas.detach(), thetas.detach(), protons, s), expected, atol=1e-13)


def test_nodewise_descent_recovers_separated_protons_and_runs_do_not_interact():
    from utils.teacher_student import nodewise_descent, nodewise_recovery
    protons = 3 * torch.eye(3, dtype=torch.float64).expand(2, 3, 3)  # wells far apart compared with sqrt(s)
    starts = 1e-3 * torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    electrons, converged = nodewise_descent(protons, 3.0, starts)
    assert converged.all() and torch.cdist(protons, electrons).amin(-1).amax() < 0.05
    merged = nodewise_recovery(5, 0.5, runs=6, d=10)
    assert merged["recovered"] == 0 and merged["spurious"] + merged["stuck"] == 6
    assert nodewise_recovery(5, 0.5, runs=3, d=10)["outcomes"] == merged["outcomes"][:3]  # a prefix of the batch
