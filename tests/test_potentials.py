"""utils.potentials: every potential equals E_X[sigma(X, theta) sigma(X, w)] (Monte Carlo, 4 standard errors)."""
import math

import pytest
import torch

from utils.potentials import bessel_transfer, hermite_e, laplace_potential, pairwise, population_loss, potential, transfer

CASES = [("sign", {}), ("relu", {}), ("hermite", {"m": 1}), ("hermite", {"m": 2}), ("hermite", {"m": 3}),
         ("exp", {}), ("gaussian", {"s": 2.0}), ("gaussian", {"s": 5.0})]
SAMPLES = 1_000_000


def monte_carlo(values: torch.Tensor) -> tuple[float, float]:
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


@pytest.mark.parametrize("kind, params", CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("seed", [0, 1])
def test_potential_matches_monte_carlo(kind, params, seed):
    g = torch.Generator().manual_seed(seed)
    d = 4
    theta = 0.6 * torch.randn(d, generator=g, dtype=torch.float64)
    w = 0.6 * torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(SAMPLES, d, generator=g, dtype=torch.float64)
    mean, standard_error = monte_carlo(transfer(kind, x, theta, **params) * transfer(kind, x, w, **params))
    exact = potential(kind, theta, w, **params).item()
    assert abs(mean - exact) < 4 * standard_error, (mean, exact, standard_error)


def test_seed_table_gaussian_pairing_is_wrong():
    """exp((2 x.theta - |theta|^2)/s) does NOT have the potential exp(-|theta - w|^2/s) under X ~ N(0, I)."""
    g = torch.Generator().manual_seed(3)
    theta, w = 0.5 * torch.randn(3, generator=g, dtype=torch.float64), 0.5 * torch.randn(3, generator=g, dtype=torch.float64)
    s = 2.0
    x = torch.randn(SAMPLES, 3, generator=g, dtype=torch.float64)
    seed_transfer = lambda t: torch.exp((2 * x @ t - t @ t) / s)  # noqa: E731
    mean, standard_error = monte_carlo(seed_transfer(theta) * seed_transfer(w))
    claimed = math.exp(-((theta - w) ** 2).sum().item() / s)
    assert abs(mean - claimed) > 20 * standard_error


def test_hermite_polynomials():
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)
    assert torch.allclose(hermite_e(0, z), torch.ones_like(z))
    assert torch.allclose(hermite_e(2, z), z ** 2 - 1)
    assert torch.allclose(hermite_e(3, z), z ** 3 - 3 * z)
    assert torch.allclose(hermite_e(4, z), z ** 4 - 6 * z ** 2 + 3)


@pytest.mark.parametrize("kind, params", [("relu", {}), ("sign", {}), ("gaussian", {"s": 3.0}), ("hermite", {"m": 2})])
def test_population_loss_matches_monte_carlo(kind, params):
    g = torch.Generator().manual_seed(5)
    d, k, l = 5, 3, 4
    a, b = torch.randn(k, generator=g, dtype=torch.float64), torch.randn(l, generator=g, dtype=torch.float64)
    thetas = 0.5 * torch.randn(k, d, generator=g, dtype=torch.float64)
    ws = 0.5 * torch.randn(l, d, generator=g, dtype=torch.float64)
    x = torch.randn(SAMPLES, d, generator=g, dtype=torch.float64)
    error = transfer(kind, x, thetas, **params) @ a - transfer(kind, x, ws, **params) @ b
    mean, standard_error = monte_carlo(error ** 2)
    exact = population_loss(a, thetas, b, ws, kind, **params).item()
    assert abs(mean - exact) < 4 * standard_error, (mean, exact, standard_error)


def test_population_loss_batches_and_vanishes_at_the_teacher():
    g = torch.Generator().manual_seed(0)
    ws = torch.randn(2, 3, 4, generator=g, dtype=torch.float64)  # two independent runs
    b = torch.randn(2, 3, generator=g, dtype=torch.float64)
    assert torch.allclose(population_loss(b, ws.clone(), b, ws, "relu"), torch.zeros(2, dtype=torch.float64), atol=1e-12)
    single = population_loss(b[1], ws[1] + 0.1, b[1], ws[1], "relu")
    assert torch.allclose(population_loss(b, ws + 0.1, b, ws, "relu")[1], single)


def test_self_interaction_has_finite_gradients():
    thetas = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    for kind in ("relu", "sign"):
        values = pairwise(kind, thetas, thetas)
        exact = potential(kind, thetas[:, None, :], thetas[None, :, :].detach())
        assert torch.allclose(values, exact, atol=1e-12)
        (grad,) = torch.autograd.grad(values.sum(), thetas)
        assert torch.isfinite(grad).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown kind"):
        potential("tanh", torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="takes parameters"):
        potential("gaussian", torch.ones(2), torch.ones(2))


@pytest.mark.parametrize("r", [0.0, 0.3, 1.7])
def test_bessel_transfer_has_the_laplace_potential(r):
    """1-D quadrature (log singularities at 0 and r passed as break points) and the product rule in 2-D."""
    from scipy import integrate
    theta, w = torch.tensor([0.0], dtype=torch.float64), torch.tensor([r], dtype=torch.float64)
    def integrand(x):
        point = torch.tensor([[x]], dtype=torch.float64)
        return (bessel_transfer(point, theta) * bessel_transfer(point, w)).item()
    points = sorted({0.0, r})
    value = integrate.quad(integrand, -40, 40, points=points, limit=400, epsabs=1e-13)[0]
    assert abs(value - math.exp(-r)) < 1e-9
    pair = torch.tensor([[0.2, -0.1]], dtype=torch.float64), torch.tensor([[0.2 + r, 0.4]], dtype=torch.float64)
    assert torch.allclose(laplace_potential(*pair), torch.tensor([math.exp(-r) * math.exp(-0.5)], dtype=torch.float64))
