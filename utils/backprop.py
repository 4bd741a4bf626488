"""Backpropagation written out as a chain of Jacobians, for a fully connected network.

The network is a composition of layer functions: ``a_t = o_{t-1} W_t^T + b_t`` (Jacobian ``W_t``),
``o_t = sigma(a_t)`` (Jacobian ``diag(sigma'(a_t))``), with a linear output layer. The backward pass
carries ``delta_t = dL/da_t`` from the output to the input: ``delta_{t-1} = (delta_t W_t) * sigma'(a_{t-1})``,
and reads off ``dL/dW_t = delta_t^T o_{t-1}``, ``dL/db_t = sum over rows of delta_t``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Activation = tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]

# name -> (sigma, sigma'), the derivatives written out by hand
ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": (torch.sigmoid, lambda a: torch.sigmoid(a) * (1 - torch.sigmoid(a))),
    "tanh": (torch.tanh, lambda a: 1 - torch.tanh(a) ** 2),
    "relu": (torch.relu, lambda a: (a > 0).to(a.dtype)),
    "softplus": (F.softplus, torch.sigmoid),
    "step": (lambda a: (a > 0).to(a.dtype), torch.zeros_like),
}


def _check_shapes(weights, biases, x, y) -> None:
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError(f"need one bias per weight matrix and at least one layer, got {len(weights)} weights "
                         f"and {len(biases)} biases")
    if x.dim() != 2 or y.dim() != 2 or len(x) != len(y):
        raise ValueError(f"x must be (N, d0) and y (N, dL) with the same N, got {tuple(x.shape)} and {tuple(y.shape)}")
    width = x.shape[1]
    for t, (w, b) in enumerate(zip(weights, biases)):
        if w.dim() != 2 or w.shape[1] != width or b.shape != (w.shape[0],):
            raise ValueError(f"layer {t}: weights {tuple(w.shape)} and biases {tuple(b.shape)} do not fit an input of "
                             f"width {width}; weights[t] must be (out, in) and biases[t] (out,)")
        width = w.shape[0]
    if y.shape[1] != width:
        raise ValueError(f"the network outputs {width} values per row but y has {y.shape[1]}")


def mlp_gradients(weights: Sequence[torch.Tensor], biases: Sequence[torch.Tensor], x: torch.Tensor,
                  y: torch.Tensor, activation: str = "sigmoid"
                  ) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Loss and its gradients for an MLP, by the explicit Jacobian chain (no autograd).

    ``weights[t]`` is ``(out, in)``, ``biases[t]`` is ``(out,)``, ``x`` is ``(N, d0)``, ``y`` is ``(N, dL)``.
    Hidden layers apply ``activation`` (one of ``ACTIVATIONS``); the output layer is linear. The loss is the
    mean over the N rows of the summed squared error. Returns ``(loss, grads_W, grads_b)``.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    _check_shapes(weights, biases, x, y)
    sigma, sigma_prime = ACTIVATIONS[activation]
    outputs, pre_activations = [x], []
    for t, (w, b) in enumerate(zip(weights, biases)):
        a = outputs[-1] @ w.T + b
        pre_activations.append(a)
        outputs.append(sigma(a) if t < len(weights) - 1 else a)
    error = outputs[-1] - y
    loss = (error ** 2).sum(dim=1).mean()
    delta = 2 * error / len(x)  # dL/da for the (linear) output layer
    grads_w, grads_b = [None] * len(weights), [None] * len(weights)
    for t in range(len(weights) - 1, -1, -1):
        grads_w[t] = delta.T @ outputs[t]
        grads_b[t] = delta.sum(dim=0)
        if t > 0:
            delta = (delta @ weights[t]) * sigma_prime(pre_activations[t - 1])
    return loss, grads_w, grads_b
