"""The neural tangent kernel: empirical (from a model, with ``torch.func``) and analytic (infinite-width ReLU MLP).

Convention (Jacot et al.; the neural-tangents library): the NTK parameterisation
``z = w_std / sqrt(fan_in) * W x + b_std * b`` with ``W, b ~ N(0, 1)``, so the input kernel is
``w_std**2 * x.x' / d + b_std**2``.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call, jacrev, jvp, vjp, vmap


class NTKLinear(nn.Module):
    """A linear layer in the NTK parameterisation: standard-normal weights, scaling in the forward pass."""

    def __init__(self, fan_in: int, fan_out: int, w_std: float = 1.0, b_std: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(fan_out, fan_in))
        self.bias = nn.Parameter(torch.randn(fan_out))
        self.w_scale, self.b_std = w_std / math.sqrt(fan_in), b_std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_scale * x @ self.weight.T + self.b_std * self.bias


def relu_mlp(d_in: int, width: int, depth: int, w_std: float = 1.0, b_std: float = 0.0) -> nn.Sequential:
    """``depth`` hidden ReLU layers of ``width`` units and a linear scalar readout, in the NTK parameterisation.

    As ``width`` grows, its empirical NTK converges to ``relu_ntk(..., depth, w_std, b_std)``.
    """
    layers, fan_in = [], d_in
    for _ in range(depth):
        layers += [NTKLinear(fan_in, width, w_std, b_std), nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers, NTKLinear(fan_in, 1, w_std, b_std))


def _scalar_function(model: nn.Module):
    def f(params, x):
        return functional_call(model, params, (x,)).reshape(len(x))
    return f


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach() for name, p in model.named_parameters()}


def empirical_ntk(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
    """``Theta[i, j] = <df(x1_i)/dparams, df(x2_j)/dparams>`` by contracting two Jacobians (``jacrev``).

    For a model with a scalar output per row; returns a ``(len(x1), len(x2))`` tensor.
    """
    f, params = _scalar_function(model), _params(model)
    jac1 = jacrev(f)(params, x1)
    jac2 = jacrev(f)(params, x2)
    return sum(j1.flatten(1) @ j2.flatten(1).T for j1, j2 in zip(jac1.values(), jac2.values()))


def empirical_ntk_vp(model: nn.Module, x1: torch.Tensor, x2: torch.Tensor, chunk_size: int | None = None
                     ) -> torch.Tensor:
    """The same kernel by NTK-vector products: column ``j`` is ``J1 (J2^T e_j)`` (a ``vjp`` then a ``jvp``).

    Never materialises a Jacobian. ``chunk_size`` columns are computed at once (default: all); each needs one
    parameter-sized tangent, so ``chunk_size=1`` keeps memory at a few copies of the parameters (wide networks).
    """
    f, params = _scalar_function(model), _params(model)
    _, pullback = vjp(lambda p: f(p, x2), params)

    def column(unit: torch.Tensor) -> torch.Tensor:
        (tangent,) = pullback(unit)
        return jvp(lambda p: f(p, x1), (params,), (tangent,))[1]

    return vmap(column, chunk_size=chunk_size)(torch.eye(len(x2), dtype=x2.dtype, device=x2.device)).T


def relu_expectations(k11: torch.Tensor, k12: torch.Tensor, k22: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ``(u, v)`` centred Gaussian with covariance ``[[k11, k12], [k12, k22]]``:
    ``E[relu(u) relu(v)]`` and ``E[relu'(u) relu'(v)]`` (the arc-cosine kernels of degree 1 and 0)."""
    norms = torch.sqrt(k11 * k22)
    angle = torch.arccos(torch.clamp(k12 / norms, -1.0, 1.0))
    value = norms / (2 * math.pi) * (torch.sin(angle) + (math.pi - angle) * torch.cos(angle))
    derivative = (math.pi - angle) / (2 * math.pi)
    return value, derivative


def relu_ntk(x1: torch.Tensor, x2: torch.Tensor, depth: int, w_std: float = 1.0, b_std: float = 0.0
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Infinite-width ``(nngp, ntk)`` kernels of ``relu_mlp(d, width, depth, w_std, b_std)``, float64.

    Recursion from the input kernel ``Sigma = Theta = w_std**2 x.x'/d + b_std**2``; through each ReLU layer
    ``Sigma' = w_std**2 E[relu(u) relu(v)] + b_std**2`` and ``Theta' = Sigma' + w_std**2 E[relu'(u) relu'(v)] Theta``.
    Returns two ``(len(x1), len(x2))`` tensors.
    """
    x1, x2 = x1.double(), x2.double()
    d = x1.shape[1]
    cross = w_std ** 2 * x1 @ x2.T / d + b_std ** 2
    diag1 = w_std ** 2 * (x1 * x1).sum(1) / d + b_std ** 2
    diag2 = w_std ** 2 * (x2 * x2).sum(1) / d + b_std ** 2
    ntk = cross
    for _ in range(depth):
        value, derivative = relu_expectations(diag1[:, None], cross, diag2[None, :])
        cross = w_std ** 2 * value + b_std ** 2
        ntk = cross + w_std ** 2 * derivative * ntk
        diag1 = w_std ** 2 * diag1 / 2 + b_std ** 2  # E[relu(u)^2] = k11 / 2
        diag2 = w_std ** 2 * diag2 / 2 + b_std ** 2
    return cross, ntk


def layerwise_ntk(model: nn.Sequential, x1: torch.Tensor, x2: torch.Tensor, per_layer: bool = False):
    """The empirical NTK of a ``relu_mlp`` in closed form, layer by layer, without autograd.

    For a layer ``z = s W h + b_std b`` (``s = w_std / sqrt(fan_in)``) with backward signal ``delta = df/dz``, the
    weights contribute ``s^2 (h(x1).h(x2)) (delta(x1).delta(x2))`` and the bias ``b_std^2 delta(x1).delta(x2)``.
    Cost: one forward and one backward pass of matrix products; agrees with ``empirical_ntk``.
    Returns the ``(len(x1), len(x2))`` kernel, or a list of one such kernel per linear layer if ``per_layer``.
    """
    layers = [m for m in model if isinstance(m, NTKLinear)]
    if len(layers) + sum(isinstance(m, nn.ReLU) for m in model) != len(model) or layers[-1].weight.shape[0] != 1:
        raise ValueError("layerwise_ntk takes a relu_mlp: NTKLinear layers, ReLUs between them, a scalar readout")

    def signals(x):
        inputs, pre = [x], []
        for layer in layers[:-1]:
            pre.append(layer(inputs[-1]).detach())
            inputs.append(torch.relu(pre[-1]))
        deltas = [torch.ones(len(x), 1, dtype=x.dtype, device=x.device)]
        for layer, z in zip(reversed(layers[1:]), reversed(pre)):
            deltas.insert(0, (deltas[0] @ layer.weight.detach()) * layer.w_scale * (z > 0).to(x.dtype))
        return inputs, deltas

    (h1, d1), (h2, d2) = signals(x1), signals(x2)
    parts = [(layer.w_scale ** 2 * (a @ b.T) + layer.b_std ** 2) * (da @ db.T)
             for layer, a, b, da, db in zip(layers, h1, h2, d1, d2)]
    return parts if per_layer else sum(parts)


def steps_to_memorise(x: torch.Tensor, labels: torch.Tensor, width: int, steps: int, b_std: float = 0.1,
                      seed: int = 0) -> torch.Tensor:
    """Full-batch gradient descent on ``sum (f - y)^2 / 2`` for one-hidden-layer ``relu_mlp(d, width, 1, 1, b_std)``
    networks, one per row of ``labels (runs, n)`` (labels +-1), all runs batched; step ``1 / lambda_max`` of the
    analytic NTK on ``x``. Returns, per run, the first step at which every training point is classified correctly
    (``sign f = y``), or ``steps`` if that never happens within the budget.
    """
    runs, (n, d) = labels.shape[0], x.shape
    g = torch.Generator().manual_seed(seed)
    _, kernel = relu_ntk(x, x, 1, 1.0, b_std)
    lr = 1 / torch.linalg.eigvalsh(kernel).max().item()
    w1 = torch.randn(runs, width, d, generator=g, dtype=x.dtype).requires_grad_(True)
    b1 = torch.randn(runs, width, 1, generator=g, dtype=x.dtype).requires_grad_(True)
    w2 = torch.randn(runs, 1, width, generator=g, dtype=x.dtype).requires_grad_(True)
    b2 = torch.randn(runs, 1, generator=g, dtype=x.dtype).requires_grad_(True)
    first = torch.full((runs,), steps)
    for step in range(steps):
        hidden = torch.relu(w1 @ x.T / math.sqrt(d) + b_std * b1)
        f = (w2 @ hidden).squeeze(1) / math.sqrt(width) + b_std * b2
        done = (f * labels > 0).all(1)
        first = torch.where(done & (first == steps), step, first)
        if (first < steps).all():
            break
        grads = torch.autograd.grad(0.5 * ((f - labels) ** 2).sum(), (w1, b1, w2, b2))
        with torch.no_grad():
            for p, grad in zip((w1, b1, w2, b2), grads):
                p -= lr * grad
    return first


def sphere_random_labels(n: int, runs: int, d: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform on the sphere of radius ``sqrt(d)`` in R^d and ``runs`` random +-1 labellings (seeded by n)."""
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(d)
    return x, torch.randint(0, 2, (runs, n), generator=g).double() * 2 - 1


def smallest_memorising_widths(n: int, runs: int, steps: int, d: int = 10) -> list[int]:
    """Per random labelling of ``sphere_random_labels(n, runs, d)``, the smallest width on the grid ``round(2^(k/4))``
    at which ``steps_to_memorise`` classifies every point correctly within ``steps`` steps (widths tried in order)."""
    x, labels = sphere_random_labels(n, runs, d)
    found: list[int | None] = [None] * runs
    for k in range(2, 64):
        width = round(2 ** (k / 4))
        if k > 2 and width == round(2 ** ((k - 1) / 4)):
            continue
        first = steps_to_memorise(x, labels, width, steps, seed=n * 1000 + width)
        found = [f if f is not None else (width if s < steps else None) for f, s in zip(found, first.tolist())]
        if all(f is not None for f in found):
            return found
    raise RuntimeError(f"n = {n}: some labelling was never memorised up to width {width}")
