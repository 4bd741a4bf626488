"""AlexNet's two-GPU split as model parallelism: one column per process, activations exchanged only where the paper's
GPUs communicate (conv3 and the fully connected layers). Lecture 9.

    torchrun --standalone --nproc_per_node=2 -m utils.alexnet_columns --out columns.json

Each process builds the single-device network with grouped convolutions (``alexnet_grouped``, same seed everywhere),
keeps its column's slice of every layer (``column_weights``), runs forward and backward through its column, and
compares output and gradients with the single-device network. Rank 0 writes the differences and the exchanged sizes.
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from utils.ddp_demo import setup
from utils.distributed import say

# (name, output channels or units) of AlexNet (Krizhevsky, Sutskever, Hinton, NeurIPS 2012), both GPUs together
LAYERS = [("conv1", 96), ("conv2", 256), ("conv3", 384), ("conv4", 384), ("conv5", 256), ("fc6", 4096), ("fc7", 4096)]


class GroupLRN(nn.Module):
    """Local response normalisation within each of ``groups`` channel blocks (one per GPU): a GPU only sees its maps.

    PyTorch divides ``alpha`` by ``size``; alpha = 5e-4 is the paper's α = 1e-4 with n = 5, k = 2, β = 0.75.
    """

    def __init__(self, groups: int = 2):
        super().__init__()
        self.groups, self.norm = groups, nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.norm(part) for part in x.chunk(self.groups, dim=1)], dim=1)


def _channels(width: float) -> list[int]:
    return [max(2, 2 * round(c * width / 2)) for _, c in LAYERS]


def features(width: float = 1.0, groups: int = 2) -> list[nn.Module]:
    """conv1 … pool5 of AlexNet; ``groups=2`` for the two-GPU network, ``width`` scales every layer (tests)."""
    c1, c2, c3, c4, c5, _, _ = _channels(width)
    return [nn.Conv2d(3, c1, 11, stride=4), nn.ReLU(), GroupLRN(groups), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2, groups=groups), nn.ReLU(), GroupLRN(groups), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),  # conv3 reads both columns
            nn.Conv2d(c3, c4, 3, padding=1, groups=groups), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1, groups=groups), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten()]


def alexnet_grouped(num_classes: int = 1000, width: float = 1.0, size: int = 227) -> nn.Sequential:
    """The two-GPU AlexNet on one device (dropout omitted): grouped convolutions where the paper's GPUs do not talk.

    Layer indices: conv1 0, conv2 4, conv3 8, conv4 10, conv5 12, flatten 15, fc6 16, fc7 18, fc8 20.
    """
    layers = features(width)
    with torch.device("meta"):
        flat = nn.Sequential(*features(width))(torch.zeros(1, 3, size, size)).shape[1]
    *_, f6, f7 = _channels(width)
    return nn.Sequential(*layers, nn.Linear(flat, f6), nn.ReLU(), nn.Linear(f6, f7), nn.ReLU(),
                         nn.Linear(f7, num_classes))


CONV_LAYERS = {"conv1": 0, "conv2": 4, "conv3": 8, "conv4": 10, "conv5": 12, "fc6": 16, "fc7": 18, "fc8": 20}


def column_weights(reference: nn.Sequential, rank: int, columns: int = 2, grad: bool = False
                   ) -> dict[str, torch.Tensor]:
    """Column ``rank``'s share of every layer (of its gradients with ``grad``): a contiguous block of its output
    channels or units, with all the inputs that layer has in ``reference``."""
    shares = {}
    for name, index in CONV_LAYERS.items():
        for kind in ("weight", "bias"):
            full = getattr(reference[index], kind)
            full = full.grad if grad else full.detach()
            shares[f"{name}.{kind}"] = full.chunk(columns)[rank].clone()
    return shares


class Exchange(torch.autograd.Function):
    """All-gather along dim 1 (every column gets every column's activations, in rank order).

    Backward: each column used the whole gathered tensor, so the gradient of a piece is the sum over columns of their
    gradients for it: all-reduce, then keep this column's slice.
    """

    @staticmethod
    def forward(ctx, piece: torch.Tensor) -> torch.Tensor:
        pieces = [torch.empty_like(piece) for _ in range(dist.get_world_size())]
        dist.all_gather(pieces, piece.contiguous())
        ctx.rank, ctx.width = dist.get_rank(), piece.shape[1]
        return torch.cat(pieces, dim=1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[:, ctx.rank * ctx.width:(ctx.rank + 1) * ctx.width]


class Column(nn.Module):
    """One GPU's half of AlexNet. ``forward`` logs (exchange, elements this column sends per image) in ``self.sent``."""

    def __init__(self, reference: nn.Sequential, rank: int, columns: int = 2):
        super().__init__()
        weights = column_weights(reference, rank, columns)
        for name, index in CONV_LAYERS.items():
            layer = reference[index]
            shape = weights[f"{name}.weight"].shape
            if isinstance(layer, nn.Conv2d):  # a column's conv is ungrouped: it sees only its own or all channels
                part = nn.Conv2d(shape[1], shape[0], layer.kernel_size, layer.stride, layer.padding)
            else:
                part = nn.Linear(shape[1], shape[0])
            part.weight.data, part.bias.data = weights[f"{name}.weight"], weights[f"{name}.bias"]
            setattr(self, name, part)
        self.norm, self.sent = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0), []

    def exchange(self, name: str, x: torch.Tensor) -> torch.Tensor:
        self.sent.append((name, x[0].numel()))
        return Exchange.apply(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.norm(F.relu(self.conv1(x))), 3, 2)
        x = F.max_pool2d(self.norm(F.relu(self.conv2(x))), 3, 2)
        x = F.relu(self.conv3(self.exchange("conv2 → conv3", x)))
        x = F.relu(self.conv5(F.relu(self.conv4(x))))
        x = F.max_pool2d(x, 3, 2).flatten(1)
        x = F.relu(self.fc6(self.exchange("pool5 → fc6", x)))
        x = F.relu(self.fc7(self.exchange("fc6 → fc7", x)))
        x = self.fc8(self.exchange("fc7 → fc8", x))
        return self.exchange("fc8 → softmax", x)


def layer_outputs(size: int = 227, width: float = 1.0, num_classes: int = 1000) -> dict[str, int]:
    """Elements per image of the output of each AlexNet stage (both columns), from shapes only (meta tensors)."""
    with torch.device("meta"):
        model = alexnet_grouped(num_classes, width, size)
        names = {3: "pool1", 7: "pool2", 9: "conv3", 11: "conv4", 15: "pool5", 17: "fc6", 19: "fc7", 20: "fc8"}
        sizes, x = {}, torch.zeros(1, 3, size, size)
        for index, layer in enumerate(model):
            x = layer(x)
            if index in names:
                sizes[names[index]] = x[0].numel()
    return sizes


def exchanged_elements(size: int = 227, per_layer: bool = False, width: float = 1.0, num_classes: int = 1000) -> int:
    """Elements per image crossing between the two devices in the forward pass (half in each direction).

    The paper's split exchanges pool2, pool5, fc6, fc7 and the logits; a split of every layer into two halves that
    still connects every layer to all of the previous one (``per_layer``) exchanges every stage's output.
    """
    sizes = layer_outputs(size, width, num_classes)
    crossing = sizes if per_layer else {k: sizes[k] for k in ("pool2", "pool5", "fc6", "fc7", "fc8")}
    return sum(crossing.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0, help="scale every layer (1 = the paper's AlexNet)")
    parser.add_argument("--size", type=int, default=227, help="input side in pixels")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--out", required=True, help="JSON file for the results (rank 0)")
    args = parser.parse_args(argv)
    rank, world, device = setup()  # gloo on the CPU; NCCL with one GPU per column where there are enough GPUs
    torch.manual_seed(0)
    num_classes = 1000 if args.width == 1 else 10
    reference = alexnet_grouped(num_classes, args.width, args.size).double().to(device)
    x = torch.randn(args.batch, 3, args.size, args.size, dtype=torch.float64).to(device)
    y = torch.randint(0, num_classes, (args.batch,)).to(device)
    column = Column(reference, rank, world)
    say(f"[rank {rank}/{world}] column with {sum(p.numel() for p in column.parameters()):,} of the "
        f"{sum(p.numel() for p in reference.parameters()):,} parameters")
    output = column(x)
    (F.cross_entropy(output, y) / world).backward()  # every rank holds the loss; together they count it once
    expected = reference(x)
    F.cross_entropy(expected, y).backward()
    mine = {f"{n}.{k}": getattr(getattr(column, n), k).grad for n in CONV_LAYERS for k in ("weight", "bias")}
    gradient_difference = max((mine[name] - grad).abs().max().item()
                              for name, grad in column_weights(reference, rank, world, grad=True).items())
    differences = torch.tensor([(output - expected).abs().max().item(), gradient_difference], device=device)
    dist.all_reduce(differences, op=dist.ReduceOp.MAX)
    if rank == 0:
        result = {"max_output_difference": differences[0].item(), "max_gradient_difference": differences[1].item(),
                  "exchanges": column.sent, "column_parameters": sum(p.numel() for p in column.parameters()),
                  "parameters": sum(p.numel() for p in reference.parameters()), "dtype": "float64",
                  "max_abs_output": expected.abs().max().item()}
        with open(args.out, "w") as f:
            json.dump(result, f)
        say(f"[rank 0] max |column output − grouped network output| = {result['max_output_difference']:.1e}, "
            f"max gradient difference = {result['max_gradient_difference']:.1e}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
