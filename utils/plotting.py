"""Small plotting helpers with labelled axes: training curves, image grids, confusion matrices."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from utils.training import History


def plot_history(histories: History | Mapping[str, History], keys: Sequence[str] = ("loss", "accuracy"),
                 axes=None):
    """Training curves: one panel per key, train (solid) and validation (dashed) against epoch.

    ``histories`` is one ``History`` or ``{label: History}`` to compare runs. Returns the axes.
    """
    if isinstance(histories, History):
        histories = {"": histories}
    if axes is None:
        _, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
        axes = axes[0]
    for ax, key in zip(axes, keys):
        for color, (label, history) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"],
                                           histories.items()):
            for split, style in (("train", "-"), ("val", "--")):
                values = history[f"{split}_{key}"]
                if values:
                    ax.plot(history["epoch"][:len(values)], values, style, color=color,
                            label=f"{label} {split}".strip())
        ax.set_xlabel("epoch")
        ax.set_ylabel(key.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    return axes


def show_images(images: torch.Tensor | np.ndarray, titles: Sequence[str] | None = None, ncols: int = 8,
                cmap: str = "gray", size: float = 1.4):
    """A grid of images, ``(N, H, W)`` grey or ``(N, C, H, W)`` / ``(N, H, W, C)`` colour, with titles."""
    images = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if images.ndim == 4 and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows * (1.25 if titles else 1)),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap=cmap if images[i].ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix: torch.Tensor | np.ndarray, class_names: Sequence[str], ax=None):
    """Confusion matrix as a heat map with counts; rows are true classes, columns predictions."""
    matrix = matrix.cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix)
    if ax is None:
        size = 0.55 * len(class_names) + 2
        _, ax = plt.subplots(figsize=(size, size))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = np.log1p(matrix).max() / 2
    for i in ticks:
        for j in ticks:
            ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if np.log1p(matrix[i, j]) > threshold else "black")
    return ax


def plot_contours(f, xlim: tuple[float, float], ylim: tuple[float, float], ax=None, levels: int = 30,
                  resolution: int = 200, log: bool = False):
    """Contour lines of a function of two variables ``f(x1, x2)`` (vectorised over tensors).

    With ``log`` the levels are spaced evenly in ``log(1 + f)``, for functions with steep walls.
    """
    x1, x2 = torch.meshgrid(torch.linspace(*xlim, resolution, dtype=torch.float64),
                            torch.linspace(*ylim, resolution, dtype=torch.float64), indexing="xy")
    values = f(x1, x2)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 4))
    ax.contour(x1.numpy(), x2.numpy(), torch.log1p(values).numpy() if log else values.numpy(),
               levels=levels, cmap="viridis", linewidths=0.8)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax
