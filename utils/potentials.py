"""Teacher-student networks as electrons and protons: transfer functions and their potentials.

A one-hidden-layer network ``f(x) = sum_i a_i sigma(x, theta_i)`` with inputs ``X ~ N(0, I_d)`` has the expected
square loss against a teacher ``sum_j b_j sigma(x, w_j)``

    sum_ij a_i a_j Phi(theta_i, theta_j) - 2 sum_ij a_i b_j Phi(theta_i, w_j) + sum_ij b_i b_j Phi(w_i, w_j),

with the potential ``Phi(theta, w) = E_X[sigma(X, theta) sigma(X, w)]``: student units (electrons) repel each other
and are attracted by the fixed teacher units (protons). ``potential`` is exact for every ``transfer`` here.

| kind | ``transfer(x, theta)`` | ``potential(theta, w)`` |
| --- | --- | --- |
| ``sign`` | ``sign(x.theta)`` | ``1 - 2 angle(theta, w) / pi`` |
| ``relu`` | ``max(0, x.theta)`` | ``|theta||w| (sin a + (pi - a) cos a) / (2 pi)``, ``a`` the angle |
| ``hermite`` (``m``) | ``|theta|^m He_m(x.theta/|theta|) / sqrt(m!)`` | ``(theta.w)^m`` |
| ``exp`` | ``exp(x.theta - |theta|^2/2)`` | ``exp(theta.w)`` |
| ``gaussian`` (``s``) | ``exp(sqrt(2/s) x.theta - 2|theta|^2/s)`` | ``exp(-|theta - w|^2 / s)`` |

``He_m`` is the probabilists' Hermite polynomial; for unit ``theta`` the Hermite transfer is ``He_m(x.theta)/sqrt(m!)``.

Translation-invariant pairs (the inputs spread with Lebesgue measure over R^d, ``Phi(theta, w) = int sigma(x - theta)
sigma(x - w) dx``): ``bessel_transfer`` ``prod_i sqrt(2)/pi K_0(|x_i - theta_i|)`` has ``laplace_potential``
``exp(-|theta - w|_1)`` (the Bessel/L1 row of Panigrahy, Rahimi, Sachdeva and Zhang, ITCS 2018).
"""
from __future__ import annotations

import math

import torch

from utils.ntk import relu_expectations

KINDS = ("sign", "relu", "hermite", "exp", "gaussian")


def hermite_e(m: int, z: torch.Tensor) -> torch.Tensor:
    """Probabilists' Hermite polynomial ``He_m(z)`` by the recurrence ``He_{n+1} = z He_n - n He_{n-1}``."""
    previous, current = torch.ones_like(z), z
    if m == 0:
        return previous
    for n in range(1, m):
        previous, current = current, z * current - n * previous
    return current


def _check(kind: str, params: dict) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    needed = {"hermite": {"m"}, "gaussian": {"s"}}.get(kind, set())
    if set(params) != needed:
        raise ValueError(f"kind {kind!r} takes parameters {sorted(needed) or 'none'}, got {sorted(params)}")


def transfer(kind: str, x: torch.Tensor, theta: torch.Tensor, **params) -> torch.Tensor:
    """``sigma(x, theta)`` for inputs ``x`` of shape ``(N, d)`` and units ``theta`` of shape ``(d,)`` or ``(k, d)``.

    Returns ``(N,)`` or ``(N, k)``.
    """
    _check(kind, params)
    single = theta.dim() == 1
    theta = theta.reshape(-1, theta.shape[-1])
    z = x @ theta.T
    norm2 = (theta * theta).sum(-1)
    if kind == "sign":
        out = torch.sign(z)
    elif kind == "relu":
        out = torch.relu(z)
    elif kind == "hermite":
        m, norm = params["m"], norm2.sqrt()
        out = norm ** m * hermite_e(m, z / norm) / math.sqrt(math.factorial(m))
    elif kind == "exp":
        out = torch.exp(z - norm2 / 2)
    else:
        s = params["s"]
        out = torch.exp(math.sqrt(2 / s) * z - 2 * norm2 / s)
    return out[:, 0] if single else out


def _angular(kind: str, cosine: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    # the arc-cosine kernels of utils.ntk: E[relu(u) relu(v)], and E[sign(u) sign(v)] = 4 E[step(u) step(v)] - 1
    relu, step = relu_expectations(norms, cosine * norms, norms)
    return 4 * step - 1 if kind == "sign" else relu


def potential(kind: str, theta: torch.Tensor, w: torch.Tensor, **params) -> torch.Tensor:
    """``Phi(theta, w) = E_X[sigma(X, theta) sigma(X, w)]`` for ``X ~ N(0, I)``, exactly; broadcasts over leading dims."""
    _check(kind, params)
    dot = (theta * w).sum(-1)
    if kind in ("sign", "relu"):
        norms = theta.norm(dim=-1) * w.norm(dim=-1)
        return _angular(kind, dot / norms, norms)
    if kind == "hermite":
        return dot ** params["m"]
    if kind == "exp":
        return torch.exp(dot)
    return torch.exp(-((theta - w) ** 2).sum(-1) / params["s"])


def pairwise(kind: str, thetas: torch.Tensor, ws: torch.Tensor, **params) -> torch.Tensor:
    """``Phi(thetas_i, ws_j)`` for ``thetas (..., k, d)`` and ``ws (..., l, d)``: a ``(..., k, l)`` tensor.

    With ``ws is thetas`` (a unit's interaction with itself on the diagonal) the angular kinds use the exact
    value at angle 0 there, so that gradients stay finite (``arccos`` has an infinite slope at 1).
    """
    if ws is not thetas or kind not in ("sign", "relu"):
        return potential(kind, thetas[..., :, None, :], ws[..., None, :, :], **params)
    _check(kind, params)
    norm = thetas.norm(dim=-1)
    norms = norm[..., :, None] * norm[..., None, :]
    diagonal = torch.eye(thetas.shape[-2], dtype=torch.bool, device=thetas.device)
    cosine = torch.where(diagonal, 0.0, (thetas @ thetas.transpose(-1, -2)) / norms)
    at_zero_angle = torch.ones_like(norms) if kind == "sign" else norms / 2
    return torch.where(diagonal, at_zero_angle, _angular(kind, cosine, norms))


def population_loss(a: torch.Tensor, thetas: torch.Tensor, b: torch.Tensor, ws: torch.Tensor, kind: str,
                    **params) -> torch.Tensor:
    """Closed-form ``E_X[(sum_i a_i sigma(X, theta_i) - sum_j b_j sigma(X, w_j))^2]``.

    ``a (..., k)``, ``thetas (..., k, d)``, ``b (..., l)``, ``ws (..., l, d)``; leading dimensions batch independent
    runs (e.g. many random initialisations at once).
    """
    def quadratic(u, units_u, v, units_v):
        return (u[..., :, None] * pairwise(kind, units_u, units_v, **params) * v[..., None, :]).sum((-2, -1))
    return quadratic(a, thetas, a, thetas) - 2 * quadratic(a, thetas, b, ws) + quadratic(b, ws, b, ws)


def bessel_transfer(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """``prod_i sqrt(2)/pi * K_0(|x_i - theta_i|)`` for ``x (N, d)`` and ``theta (d,)``: returns ``(N,)``.

    ``K_0`` is the modified Bessel function of the second kind; in one dimension its Fourier transform is
    ``pi / sqrt(1 + k^2)``, so the self-convolution of this transfer is ``exp(-|r|)`` in each coordinate.
    """
    factors = math.sqrt(2) / math.pi * torch.special.modified_bessel_k0((x - theta).abs())
    return factors.prod(-1)


def laplace_potential(theta: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``int bessel_transfer(x, theta) bessel_transfer(x, w) dx = exp(-|theta - w|_1)``; broadcasts."""
    return torch.exp(-(theta - w).abs().sum(-1))
