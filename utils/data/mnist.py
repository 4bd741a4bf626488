"""MNIST: 60,000 training and 10,000 test digits, 28×28, as the four IDX files torchvision keeps."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from utils.data.core import DataSet, ensure_dataset, fetch_folder, install_verified, register


def _download(root: Path, wanted: dict[str, frozenset[str]]) -> None:
    import torchvision

    with fetch_folder(root, "mnist") as tmp:
        # torchvision downloads the gzip files (checking their MD5) and unpacks the IDX files.
        torchvision.datasets.MNIST(tmp, train=True, download=True)
        raw = Path(tmp) / "MNIST" / "raw"
        for rel, digest in wanted.items():
            install_verified(raw / Path(rel).name, root / rel, digest, move=True)


MNIST = register(DataSet("mnist", "MNIST/raw", _download))


@lru_cache(maxsize=2)
def _mnist_cpu(train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    dataset = mnist_dataset(train)  # torchvision reads the verified IDX files
    return dataset.data, dataset.targets


def mnist_tensors(train: bool = True, device: torch.device | str = "cpu"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole MNIST split as ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)``.

    60,000 training or 10,000 test digits, moved to ``device`` in one transfer. This is the
    fast path for small data sets; ``mnist_dataset`` is the standard ``Dataset`` path.
    """
    images, labels = _mnist_cpu(bool(train))
    return images.to(device), labels.to(device)


MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # pixel mean and std of the 60,000 training digits (scaled to [0, 1])


def mnist_normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 digits ``(N, 28, 28)`` → float ``(N, 1, 28, 28)`` with the training set's mean 0 and std 1."""
    return ((images.float() / 255 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)


def mnist_dataset(train: bool = True, transform=None):
    """``torchvision.datasets.MNIST`` over the verified files (no download by torchvision)."""
    import torchvision

    folder = ensure_dataset("mnist")
    return torchvision.datasets.MNIST(str(folder.parents[1]), train=train, transform=transform,
                                      download=False)
