"""Convolution and max-pooling from scratch, two ways each: explicit loops (the definition) and unfold (the fast way).

Both follow PyTorch's conventions (cross-correlation, ``(N, C, H, W)`` inputs, ``(C_out, C_in, kH, kW)`` weights), so they
can be checked against ``torch.nn.functional.conv2d`` and ``max_pool2d``; ``tests/test_convolution.py`` does that in float64.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        raise ValueError(f"a kernel of {kernel} with padding {padding} does not fit an input of size {size}")
    return out


def _check(x: torch.Tensor, weight: torch.Tensor | None = None) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected input of shape (N, C, H, W), got {tuple(x.shape)}")
    if weight is not None and (weight.dim() != 4 or weight.shape[1] != x.shape[1]):
        raise ValueError(f"weight {tuple(weight.shape)} must be (C_out, C_in={x.shape[1]}, kH, kW)")


def conv2d_loops(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                 padding: int = 0) -> torch.Tensor:
    """``out[n, o, i, j] = bias[o] + sum_{c,u,v} weight[o, c, u, v] * x_padded[n, c, i*stride + u, j*stride + v]``."""
    _check(x, weight)
    n, _, height, width = x.shape
    c_out, _, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4)
    out_h, out_w = _output_size(height, kh, stride, padding), _output_size(width, kw, stride, padding)
    out = x.new_zeros(n, c_out, out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]  # (N, C_in, kH, kW)
            out[:, :, i, j] = torch.einsum("nchw,ochw->no", patch, weight)
    return out if bias is None else out + bias[:, None, None]


def conv2d_unfold(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: int = 1,
                  padding: int = 0) -> torch.Tensor:
    """The same convolution as one matrix product: every patch becomes a column (``F.unfold``, "im2col")."""
    _check(x, weight)
    n, _, height, width = x.shape
    c_out, _, kh, kw = weight.shape
    out_h, out_w = _output_size(height, kh, stride, padding), _output_size(width, kw, stride, padding)
    columns = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (N, C_in*kH*kW, L)
    out = weight.reshape(c_out, -1) @ columns  # (N, C_out, L)
    if bias is not None:
        out = out + bias[:, None]
    return out.reshape(n, c_out, out_h, out_w)


def max_pool2d_unfold(x: torch.Tensor, kernel: int = 2, stride: int | None = None) -> torch.Tensor:
    """Maximum over each ``kernel × kernel`` window (stride defaults to ``kernel``)."""
    _check(x)
    stride = stride or kernel
    n, c, height, width = x.shape
    windows = F.unfold(x.reshape(n * c, 1, height, width), kernel, stride=stride)  # (N*C, k*k, L)
    out = windows.amax(dim=1)
    return out.reshape(n, c, _output_size(height, kernel, stride, 0), _output_size(width, kernel, stride, 0))
