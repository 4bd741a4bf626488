"""utils.ntk: analytic kernels against an independent evaluation and closed values; empirical vs analytic."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from utils.ntk import empirical_ntk, empirical_ntk_vp, relu_mlp, relu_ntk


def quadrature_relu(k11, k12, k22):
    """E[relu(u) relu(v)] and E[step(u) step(v)] by adaptive numerical integration (scipy), no closed forms."""
    if abs(k12 * k12 - k11 * k22) < 1e-12 * k11 * k22:  # u = v (up to scale): one-dimensional integrals
        pdf = lambda u: math.exp(-u * u / (2 * k11)) / math.sqrt(2 * math.pi * k11)  # noqa: E731
        second_moment = integrate.quad(lambda u: u * u * pdf(u), 0, np.inf)[0] * math.sqrt(k22 / k11)
        return second_moment, integrate.quad(pdf, 0, np.inf)[0]
    density = stats.multivariate_normal(mean=[0, 0], cov=[[k11, k12], [k12, k22]])
    limit_u, limit_v = 12 * math.sqrt(k11), 12 * math.sqrt(k22)
    value = integrate.dblquad(lambda v, u: u * v * density.pdf([u, v]), 0, limit_u, 0, limit_v, epsabs=1e-11)[0]
    probability = integrate.dblquad(lambda v, u: density.pdf([u, v]), 0, limit_u, 0, limit_v, epsabs=1e-11)[0]
    return value, probability


def recursion_by_quadrature(x1, x2, depth, w_std, b_std):
    d = len(x1)
    k11, k22, k12 = (w_std ** 2 * a @ b / d + b_std ** 2 for a, b in ((x1, x1), (x2, x2), (x1, x2)))
    ntk = k12
    for _ in range(depth):
        value, derivative = quadrature_relu(k11, k12, k22)
        new12 = w_std ** 2 * value + b_std ** 2
        ntk = new12 + w_std ** 2 * derivative * ntk
        k11 = w_std ** 2 * quadrature_relu(k11, k11, k11)[0] + b_std ** 2
        k22 = w_std ** 2 * quadrature_relu(k22, k22, k22)[0] + b_std ** 2
        k12 = new12
    return k12, ntk


@pytest.mark.parametrize("depth, w_std, b_std", [(1, 1.0, 0.0), (3, 1.5, 0.1), (4, math.sqrt(2), 0.3)])
def test_relu_ntk_matches_quadrature(depth, w_std, b_std):
    g = torch.Generator().manual_seed(depth)
    x = torch.randn(3, 5, generator=g, dtype=torch.float64)
    nngp, ntk = relu_ntk(x, x, depth, w_std, b_std)
    assert nngp.dtype == torch.float64 and ntk.shape == (3, 3)
    for i in range(3):
        for j in range(i, 3):
            q_nngp, q_ntk = recursion_by_quadrature(x[i].numpy(), x[j].numpy(), depth, w_std, b_std)
            assert abs(nngp[i, j].item() - q_nngp) < 1e-7 * abs(q_nngp)
            assert abs(ntk[i, j].item() - q_ntk) < 1e-7 * abs(q_ntk)


def test_relu_ntk_closed_values():
    d = 6
    x = torch.zeros(2, d, dtype=torch.float64)
    x[0, 0] = x[1, 1] = math.sqrt(d)  # |x|^2 = d: unit input kernel; the two inputs are orthogonal
    # He scaling (w_std^2 = 2): the input kernel is 2 and every ReLU layer keeps it (E[relu(u)^2] = k/2), while the
    # NTK adds 2 per layer (Theta' = 2 + 2 * (1/2) * Theta): Theta(x, x) = 2 (depth + 1)
    for depth in (1, 2, 5):
        nngp, ntk = relu_ntk(x, x, depth, w_std=math.sqrt(2))
        assert torch.allclose(nngp.diag(), torch.full((2,), 2.0, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(ntk.diag(), torch.full((2,), 2.0 * (depth + 1), dtype=torch.float64), atol=1e-12)
    # one ReLU layer, orthogonal unit inputs: E[relu(u) relu(v)] = 1/(2 pi), E[step(u) step(v)] = 1/4
    nngp, ntk = relu_ntk(x, x, 1, w_std=1.0)
    assert math.isclose(nngp[0, 1].item(), 1 / (2 * math.pi), abs_tol=1e-12)
    assert math.isclose(ntk[0, 1].item(), 1 / (2 * math.pi), abs_tol=1e-12)  # Theta(x, x') = 0 before the ReLU
    assert math.isclose(ntk[0, 0].item(), 0.5 + 0.5 * 1.0, abs_tol=1e-12)


def test_empirical_methods_agree():
    torch.manual_seed(0)
    model = relu_mlp(3, 64, 2, w_std=1.3, b_std=0.2).double()
    x1 = torch.randn(5, 3, dtype=torch.float64)
    x2 = torch.randn(4, 3, dtype=torch.float64)
    a, b = empirical_ntk(model, x1, x2), empirical_ntk_vp(model, x1, x2)
    assert a.shape == (5, 4)
    assert torch.allclose(a, b, atol=1e-10)
    # symmetric and positive semi-definite on one set of inputs
    k = empirical_ntk(model, x1, x1)
    assert torch.allclose(k, k.T, atol=1e-12) and torch.linalg.eigvalsh(k).min() > -1e-10


def test_empirical_converges_to_analytic_at_large_width():
    torch.manual_seed(1)
    angles = torch.linspace(0, math.pi, 6, dtype=torch.float64)
    x = torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    _, analytic = relu_ntk(x, x, depth=2, w_std=1.0, b_std=0.1)
    errors = []
    for width in (64, 4096):
        model = relu_mlp(2, width, 2, w_std=1.0, b_std=0.1).double()
        empirical = empirical_ntk_vp(model, x, x)
        errors.append(((empirical - analytic).norm() / analytic.norm()).item())
    assert errors[1] < 0.05 and errors[1] < errors[0]


@pytest.mark.parametrize("depth, b_std", [(1, 0.0), (3, 0.1), (4, 0.5)])
def test_layerwise_ntk_matches_autograd(depth, b_std):
    from utils.ntk import layerwise_ntk
    torch.manual_seed(depth)
    model = relu_mlp(3, 16, depth, w_std=1.3, b_std=b_std).double()
    x1, x2 = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    reference = empirical_ntk(model, x1, x2)
    assert torch.allclose(layerwise_ntk(model, x1, x2), reference, rtol=1e-12, atol=1e-12)
    parts = layerwise_ntk(model, x1, x2, per_layer=True)
    assert len(parts) == depth + 1 and torch.allclose(sum(parts), reference, rtol=1e-12, atol=1e-12)


def test_layerwise_ntk_rejects_other_models():
    from utils.ntk import layerwise_ntk
    with pytest.raises(ValueError, match="relu_mlp"):
        layerwise_ntk(torch.nn.Sequential(torch.nn.Linear(2, 1)), torch.ones(1, 2), torch.ones(1, 2))


def test_steps_to_memorise_fits_random_labels_when_wide():
    from utils.ntk import steps_to_memorise
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 2, (3, 20), generator=g).double() * 2 - 1
    wide, narrow = steps_to_memorise(x, labels, 512, 2000), steps_to_memorise(x, labels, 1, 2000)
    assert (wide < 2000).all(), "a wide network memorises every random labelling"
    assert (narrow == 2000).all(), "one hidden unit cannot: 20 points in general position need more"


def test_smallest_memorising_widths_is_on_the_grid_and_reproducible():
    from utils.ntk import smallest_memorising_widths
    widths = smallest_memorising_widths(12, 2, 1000)
    assert widths == smallest_memorising_widths(12, 2, 1000)
    assert all(w in {round(2 ** (k / 4)) for k in range(2, 64)} for w in widths)
