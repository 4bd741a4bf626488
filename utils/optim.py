"""Optimisers written from scratch, as ``torch.optim.Optimizer`` subclasses, and a test landscape for them.

They follow PyTorch's update rules exactly (tested step for step against ``torch.optim`` in float64),
so the lecture's formulas and the library's behaviour can be compared line by line.
"""
from __future__ import annotations

import torch


class _ElementwiseOptimizer(torch.optim.Optimizer):
    """Shared ``step``: evaluate the closure, then update each parameter that has a gradient in place."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, group, self.state[p])
        return loss

    def _update(self, p: torch.Tensor, group: dict, state: dict) -> None:
        raise NotImplementedError


class SGD(_ElementwiseOptimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    With momentum ``mu`` the velocity buffer is ``b <- mu * b + g`` (``b = g`` on the first step) and the
    step is ``p <- p - lr * b``; with ``nesterov`` it is ``p <- p - lr * (g + mu * b)``, PyTorch's form of
    Nesterov's look-ahead gradient.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False):
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if momentum < 0:
            raise ValueError(f"momentum must be non-negative, got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a positive momentum")
        super().__init__(params, {"lr": lr, "momentum": momentum, "nesterov": nesterov})

    def _update(self, p, group, state):
        mu, direction = group["momentum"], p.grad
        if mu != 0:
            if "velocity" not in state:
                state["velocity"] = p.grad.clone()
            else:
                state["velocity"].mul_(mu).add_(p.grad)
            velocity = state["velocity"]
            direction = p.grad + mu * velocity if group["nesterov"] else velocity
        p.sub_(group["lr"] * direction)


class AdaGrad(_ElementwiseOptimizer):
    """AdaGrad: each coordinate's step is divided by the root of its summed squared gradients.

    ``s <- s + g**2``, ``p <- p - lr * g / (sqrt(s) + eps)``.
    """

    def __init__(self, params, lr: float, eps: float = 1e-10):
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        super().__init__(params, {"lr": lr, "eps": eps})

    def _update(self, p, group, state):
        if "sum_squares" not in state:
            state["sum_squares"] = torch.zeros_like(p)
        state["sum_squares"].add_(p.grad * p.grad)
        p.sub_(group["lr"] * p.grad / (state["sum_squares"].sqrt() + group["eps"]))


def narrow_valley(x: torch.Tensor) -> torch.Tensor:
    """Lecture 2's curved valley ``(x1² − 1)² + (x1²·x2 − x1 − 1)²`` over the last dimension of ``x``.

    Two minima with value 0: a narrow one at (1, 2) (Hessian eigenvalues 14 ± √180) and a wide one at
    (−1, 0) (6 ± √20).
    """
    return (x[..., 0] ** 2 - 1) ** 2 + (x[..., 0] ** 2 * x[..., 1] - x[..., 0] - 1) ** 2
