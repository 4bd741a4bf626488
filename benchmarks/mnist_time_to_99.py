"""Time to 99 % MNIST test accuracy: the standard PyTorch example recipe against the course recipe, side by side.

    python benchmarks/mnist_time_to_99.py            # CPU here; CUDA where present (the course recipe then uses AMP)

(a) Standard: the classic PyTorch MNIST example (github.com/pytorch/examples, mnist/main.py) — its network, Adadelta
    lr 1.0 with StepLR gamma 0.7, batch 64, torchvision MNIST through a DataLoader with ToTensor + Normalize.
(b) Ours: ``utils.vision.mnist_cnn(8)`` (conv-BN-ReLU stages, ~8 k parameters), SGD with Nesterov momentum and a
    two-epoch one-cycle schedule, batch 256, the whole data set as one tensor on the device (``TensorLoader``).
Each trains until its test accuracy, evaluated after every epoch, first reaches 99.0 %; the clock runs from building the
data pipeline to that evaluation. The last line printed is ``speedup: <standard time / our time>``.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torchvision import transforms

from utils.data import MNIST_MEAN, MNIST_STD, mnist_dataset, mnist_normalise, mnist_tensors
from utils.device import pick_device
from utils.reproducibility import seed_everything
from utils.training import TensorLoader, accuracy, evaluate, fit
from utils.vision import PyTorchExampleNet, mnist_cnn

TARGET = 0.99


def standard_recipe(device: torch.device, max_epochs: int) -> tuple[float, int, float]:
    started = time.perf_counter()
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    loader_options = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    train = DataLoader(mnist_dataset(True, to_tensor), batch_size=64, shuffle=True, **loader_options)
    test = DataLoader(mnist_dataset(False, to_tensor), batch_size=1000, **loader_options)
    model = PyTorchExampleNet().to(device)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    for epoch in range(1, max_epochs + 1):
        model.train()
        for x, y in train:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            F.nll_loss(model(x), y).backward()
            optimizer.step()
        scheduler.step()
        score = evaluate(model, test, metrics={"accuracy": accuracy}, device=device, amp=False)["accuracy"]
        print(f"  standard, epoch {epoch}: test accuracy {score:.2%} at {time.perf_counter() - started:.1f} s", flush=True)
        if score >= TARGET:
            break
    return time.perf_counter() - started, epoch, score


def our_recipe(device: torch.device, epochs: int = 2) -> tuple[float, int, float]:
    started = time.perf_counter()
    train = TensorLoader(*mnist_tensors(True, device), batch_size=256, shuffle=True, transform=mnist_normalise,
                         drop_last=True)
    test = TensorLoader(*mnist_tensors(False, device), batch_size=2000, transform=mnist_normalise)
    model = mnist_cnn(8).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=epochs * len(train))
    for epoch in range(1, epochs + 1):  # fit's amp default: bf16 autocast on CUDA, off on CPU
        fit(model, train, F.cross_entropy, optimizer, 1, scheduler=scheduler, scheduler_every="batch", verbose=False)
        score = evaluate(model, test, metrics={"accuracy": accuracy})["accuracy"]
        print(f"  ours, epoch {epoch}: test accuracy {score:.2%} at {time.perf_counter() - started:.1f} s", flush=True)
        if score >= TARGET:
            break
    return time.perf_counter() - started, epoch, score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-epochs", type=int, default=14, help="give up on the standard recipe after this many")
    args = parser.parse_args()
    device = pick_device()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    seed_everything(1)
    ours, our_epochs, our_score = our_recipe(device)
    seed_everything(1)
    standard, standard_epochs, standard_score = standard_recipe(device, args.max_epochs)
    for name, seconds, epochs, score in (("standard", standard, standard_epochs, standard_score),
                                         ("ours", ours, our_epochs, our_score)):
        print(f"{name:>8}: {score:.2%} after {epochs} epoch(s), {seconds:.1f} s")
    if min(our_score, standard_score) < TARGET:
        raise SystemExit("a recipe did not reach 99 % test accuracy; no speedup to report")
    print(f"speedup: {standard / ours:.2f}")


if __name__ == "__main__":
    main()
