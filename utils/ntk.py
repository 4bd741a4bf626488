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
