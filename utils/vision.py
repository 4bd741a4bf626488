"""Convolutional networks and batch augmentation for the CNN lectures (MNIST, Tiny ImageNet)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MNIST_VALIDATION = 5_000  # the last 5,000 training digits: every choice (epochs, recipes) is made on them


def mnist_splits(device: torch.device | str = "cpu", validation: int = MNIST_VALIDATION
                 ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST as ``{"train": ..., "val": ..., "test": ...}``, each a pair ``(uint8 images (N, 28, 28), int64 labels)``.

    ``val`` is the last ``validation`` of the 60,000 training digits and ``train`` the rest; ``test`` is the 10,000 test
    digits, which a lecture evaluates once, at the end, after everything has been chosen on ``val``.
    """
    from utils.data import mnist_tensors

    if not 0 < validation < 60_000:
        raise ValueError(f"validation must be between 1 and 59,999 digits, got {validation}")
    x, y = mnist_tensors(train=True, device=device)
    cut = len(x) - validation
    return {"train": (x[:cut], y[:cut]), "val": (x[cut:], y[cut:]), "test": mnist_tensors(train=False, device=device)}


def conv_block(c_in: int, c_out: int, convs: int = 1) -> list[nn.Module]:
    """``convs`` × (3×3 convolution, batch norm, ReLU); the convolution has no bias because batch norm adds one."""
    layers: list[nn.Module] = []
    for index in range(convs):
        layers += [nn.Conv2d(c_in if index == 0 else c_out, c_out, 3, padding=1, bias=False),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return layers


def mnist_cnn(width: int = 8) -> nn.Sequential:
    """LeNet-style: three stages of (3×3 conv, 2×2 max-pool, batch norm, ReLU) with ``width``, 2·width, 4·width channels,
    then one linear layer. 28 → 14 → 7 → 3 pixels; with ``width=8`` it has about 8,000 parameters.

    Each stage pools straight after its convolution: max-pooling commutes with ReLU, so batch norm and ReLU then work on
    a quarter of the values. The weights are stored channels-last, the layout oneDNN (CPU) and cuDNN convolutions are
    fastest in; together the two make a CPU epoch about twice as fast (lecture 7 measures it).
    """
    layers: list[nn.Module] = []
    for c_in, c_out in ((1, width), (width, 2 * width), (2 * width, 4 * width)):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(c_out),
                   nn.ReLU(inplace=True)]
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * width * 3 * 3, 10))
    return model.to(memory_format=torch.channels_last)


class PyTorchExampleNet(nn.Module):
    """The network of the classic PyTorch MNIST example (github.com/pytorch/examples, mnist/main.py): the standard recipe.

    Two 3×3 convolutions (32, 64), 2×2 max-pool, dropout 0.25, fc 9216 → 128, dropout 0.5, fc 128 → 10, log-softmax.
    """

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.dropout2(F.relu(self.fc1(torch.flatten(self.dropout1(x), 1))))
        return F.log_softmax(self.fc2(x), dim=1)


def small_imagenet_cnn(num_classes: int, width: int = 16) -> nn.Sequential:
    """VGG-style net for 64×64 images: a one-convolution stem of ``width`` channels at full resolution, then three stages
    of two conv blocks (2w, 4w, 8w channels), each stage after a 2×2 max-pool; global average pooling and a linear
    classifier. Most of the work happens at 32×32 and below, which keeps a CPU epoch short; any input ≥ 16 pixels works."""
    layers: list[nn.Module] = conv_block(3, width)
    c_in = width
    for c_out in (2 * width, 4 * width, 8 * width):
        layers += [nn.MaxPool2d(2), *conv_block(c_in, c_out, convs=2)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))


def random_crop_flip(images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-image random translation (zero-pad by ``padding``, crop back) and horizontal flip of a batch ``(N, C, H, W)``.

    Works on the batch where it lives (CPU or GPU), so augmentation costs no data-loader workers.
    """
    if images.dim() != 4:
        raise ValueError(f"expected a batch of shape (N, C, H, W), got {tuple(images.shape)}")
    n, _, height, width = images.shape
    padded = F.pad(images, (padding,) * 4)
    shifts = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator).tolist()
    flips = torch.rand(n, generator=generator).lt(0.5).tolist()
    out = torch.stack([padded[i, :, dy:dy + height, dx:dx + width] for i, (dy, dx) in enumerate(shifts)])
    flipped = torch.tensor(flips, device=images.device)
    return torch.where(flipped[:, None, None, None], out.flip(-1), out)


def pretrained_if_present(builder, weights) -> nn.Module | None:
    """``builder(weights=weights)`` if the weights file is already in the torch hub cache, else ``None``.

    Never downloads: notebooks that show a pretrained model stay runnable offline, and say so when it is absent.
    """
    from pathlib import Path

    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    return builder(weights=weights) if cached.is_file() else None
