"""utils.backprop.mlp_gradients against torch.autograd (float64) and finite differences."""
import pytest
import torch

from utils.backprop import ACTIVATIONS, mlp_gradients


def random_mlp(widths, seed):
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o, i, generator=g, dtype=torch.float64) / i ** 0.5 for i, o in zip(widths, widths[1:])]
    biases = [0.1 * torch.randn(o, generator=g, dtype=torch.float64) for o in widths[1:]]
    x = torch.randn(7, widths[0], generator=g, dtype=torch.float64)
    y = torch.randn(7, widths[-1], generator=g, dtype=torch.float64)
    return weights, biases, x, y


def autograd_reference(weights, biases, x, y, activation):
    sigma = ACTIVATIONS[activation][0]
    weights = [w.clone().requires_grad_(True) for w in weights]
    biases = [b.clone().requires_grad_(True) for b in biases]
    o = x
    for t, (w, b) in enumerate(zip(weights, biases)):
        o = o @ w.T + b
        if t < len(weights) - 1:
            o = sigma(o)
    loss = ((o - y) ** 2).sum(1).mean()
    grads = torch.autograd.grad(loss, weights + biases)
    return loss, grads[:len(weights)], grads[len(weights):]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "softplus"])
@pytest.mark.parametrize("seed", range(6))
def test_matches_autograd_on_random_depths_and_widths(activation, seed):
    g = torch.Generator().manual_seed(100 + seed)
    depth = int(torch.randint(1, 6, (1,), generator=g))
    widths = torch.randint(1, 9, (depth + 1,), generator=g).tolist()
    weights, biases, x, y = random_mlp(widths, seed)
    loss, gw, gb = mlp_gradients(weights, biases, x, y, activation)
    ref_loss, ref_w, ref_b = autograd_reference(weights, biases, x, y, activation)
    assert abs(loss - ref_loss) < 1e-10
    for ours, ref in zip(gw + gb, list(ref_w) + list(ref_b)):
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() < 1e-10


def test_finite_differences():
    weights, biases, x, y = random_mlp([3, 4, 2], seed=7)
    _, gw, _ = mlp_gradients(weights, biases, x, y, "tanh")
    h = 1e-6
    for i, j in [(0, 0), (3, 2), (1, 1)]:
        plus = [w.clone() for w in weights]
        minus = [w.clone() for w in weights]
        plus[0][i, j] += h
        minus[0][i, j] -= h
        numeric = (mlp_gradients(plus, biases, x, y, "tanh")[0] - mlp_gradients(minus, biases, x, y, "tanh")[0]) / (2 * h)
        assert abs(numeric - gw[0][i, j]) < 1e-8


def test_bad_shapes_and_names():
    weights, biases, x, y = random_mlp([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match="layer 1: weights \\(2, 4\\)"):
        mlp_gradients(weights, [biases[0], biases[0]], x, y)
    with pytest.raises(ValueError, match="outputs 2 values per row but y has 5"):
        mlp_gradients(weights, biases, x, torch.zeros(7, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="same N"):
        mlp_gradients(weights, biases, x, y[:3])
    with pytest.raises(ValueError, match="unknown activation"):
        mlp_gradients(weights, biases, x, y, "gelu")
