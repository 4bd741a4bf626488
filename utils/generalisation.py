"""Generalisation bounds, random-feature regression (double descent) and plain vs residual deep networks (lecture 15)."""
from __future__ import annotations

import math

import torch
from torch import nn


def finite_class_bound(n: int, log_size: float, delta: float = 0.05) -> float:
    """Uniform deviation for a finite class and a loss in [0, 1] (Hoeffding + union bound):
    with probability ≥ 1 − δ over n i.i.d. examples, every h has |L(h) − L̂(h)| ≤ sqrt((ln|H| + ln(2/δ)) / (2n)).
    ``log_size`` is ln|H|."""
    return math.sqrt((log_size + math.log(2 / delta)) / (2 * n))


def vc_bound(n: int, vc: int, delta: float = 0.05) -> float:
    """Gap bound for binary classifiers of VC dimension d (Mohri, Rostamizadeh, Talwalkar, *Foundations of Machine
    Learning*, 2nd ed., Corollary 3.19): L(h) ≤ L̂(h) + sqrt(2 d ln(e n / d) / n) + sqrt(ln(1/δ) / (2n)) for all h,
    with probability ≥ 1 − δ. Stated for n ≥ d; for n < d the growth function can be 2ⁿ and the same argument gives
    only sqrt(2 ln 2) > 1, a vacuous bound, returned as inf."""
    if n < vc:
        return math.inf
    return math.sqrt(2 * vc * math.log(math.e * n / vc) / n) + math.sqrt(math.log(1 / delta) / (2 * n))


def random_relu_features(x: torch.Tensor, n_features: int, seed: int) -> torch.Tensor:
    """φ(x) = relu(x W) / sqrt(N) with W ~ N(0, 1/d) of shape (d, N), fixed by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.randn(x.shape[1], n_features, generator=generator, dtype=x.dtype) / math.sqrt(x.shape[1])
    return torch.relu(x @ weights) / math.sqrt(n_features)


def min_norm_least_squares(features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The minimum-norm minimiser of ‖features · β − targets‖² (the interpolating one when N ≥ n): pinv · targets."""
    return torch.linalg.pinv(features) @ targets


class Block(nn.Module):
    """Linear-BN-ReLU-Linear-BN, then ReLU of (x + branch) if ``residual`` (He et al.'s basic block) else of branch."""

    def __init__(self, width: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.branch = nn.Sequential(nn.Linear(width, width, bias=False), nn.BatchNorm1d(width), nn.ReLU(),
                                    nn.Linear(width, width, bias=False), nn.BatchNorm1d(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.branch(x) if self.residual else self.branch(x))


def deep_mlp(inputs: int, width: int, blocks: int, classes: int, residual: bool) -> nn.Sequential:
    """Input layer, ``blocks`` two-layer blocks (with or without identity skips), output layer: 2·blocks + 2 layers.
    Linear weights get He (Kaiming normal) initialisation, so only the skips differ between the two variants."""
    model = nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), *[Block(width, residual) for _ in range(blocks)],
                          nn.Linear(width, classes))
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


def weight_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """‖∂loss/∂W‖ of every linear layer's weight, input to output, for one cross-entropy backward pass on (x, y)."""
    model.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
