"""Data parallelism with ``DistributedDataParallel``: the script lecture 9 launches with ``torchrun``.

    torchrun --standalone --nproc_per_node=2 -m utils.ddp_demo train --steps 20 --batch 16 --out ddp.pt
    torchrun --standalone --nproc_per_node=1 -m utils.ddp_demo train --steps 20 --batch 32 --out one.pt
    torchrun --standalone --nproc_per_node=2 -m utils.ddp_demo time --batch 64 --bucket-mb 1 25

Every process runs this same file. ``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and the rendezvous address in the
environment; ``init_process_group`` reads them. Backend: NCCL when every process can have a GPU of its own, gloo
(CPU) otherwise. The data are synthetic (a fixed random teacher labels Gaussian inputs), so the script needs no
download: what it demonstrates is the arithmetic of data parallelism, which does not depend on the data.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from utils.distributed import say

INPUTS, CLASSES = 784, 10


def synthetic_data(n: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` Gaussian inputs of MNIST's size, labelled by a fixed random linear teacher (10 classes) that reads only
    the first 16 coordinates (the rest is noise), so that a few dozen SGD steps visibly learn it."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, INPUTS, generator=generator, dtype=torch.float64)
    teacher = torch.randn(16, CLASSES, generator=generator, dtype=torch.float64)
    return x.to(dtype), (x[:, :16] @ teacher).argmax(1)


def mlp(width: int, seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """784 → width → width → 10 ReLU network, initialised from ``seed`` (identical in every process)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(INPUTS, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, CLASSES)).to(dtype)


def setup() -> tuple[int, int, torch.device]:
    """Join the process group torchrun prepared; returns rank, world size and this process's device."""
    world = int(os.environ["WORLD_SIZE"])
    use_nccl = torch.cuda.is_available() and torch.cuda.device_count() >= world
    dist.init_process_group("nccl" if use_nccl else "gloo")
    rank = dist.get_rank()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}" if use_nccl else "cpu")
    if use_nccl:
        torch.cuda.set_device(device)
    return rank, world, device


def local_rows(step: int, batch: int, accumulate: int, rank: int, world: int) -> slice:
    """Rows of this process's share of global batch ``step``: global batch = batch × accumulate × world rows."""
    per_process = batch * accumulate
    start = step * per_process * world + rank * per_process
    return slice(start, start + per_process)


def train_one_process(steps: int, batch: int, accumulate: int = 1, width: int = 256, lr: float = 0.05,
                      dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """The same training without torch.distributed: one process, ``accumulate`` micro-batches of ``batch`` rows per
    step (the global batch of ``train``). Returns the final weights."""
    model = mlp(width, dtype=dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x, y = synthetic_data(steps * batch * accumulate, dtype=dtype)
    for step in range(steps):
        rows = local_rows(step, batch, accumulate, 0, 1)
        optimizer.zero_grad(set_to_none=True)
        for xb, yb in zip(x[rows].split(batch), y[rows].split(batch)):
            (nn.functional.cross_entropy(model(xb), yb) / accumulate).backward()  # gradients add up in .grad
        optimizer.step()
    return {name: p.detach() for name, p in model.state_dict().items()}


def train(args, rank: int, world: int, device: torch.device) -> None:
    dtype = getattr(torch, args.dtype)
    model = DDP(mlp(args.width, dtype=dtype).to(device), device_ids=[device.index] if device.type == "cuda" else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    x, y = synthetic_data(args.steps * args.batch * args.accumulate * world, dtype=dtype)
    say(f"[rank {rank}/{world}] backend {dist.get_backend()}, device {device}, {args.dtype}, "
        f"batch {args.batch} × {args.accumulate} accumulated → global batch {args.batch * args.accumulate * world}")
    for step in range(args.steps):
        rows = local_rows(step, args.batch, args.accumulate, rank, world)
        xs, ys = x[rows].to(device).split(args.batch), y[rows].to(device).split(args.batch)
        optimizer.zero_grad(set_to_none=True)
        for micro, (xb, yb) in enumerate(zip(xs, ys)):
            last = micro == args.accumulate - 1
            with contextlib.nullcontext() if last else model.no_sync():  # all-reduce only after the last micro-batch
                loss = nn.functional.cross_entropy(model(xb), yb) / args.accumulate
                loss.backward()
        optimizer.step()
        if rank == 0 and (step % max(1, args.steps // 5) == 0 or step == args.steps - 1):
            say(f"[rank 0] step {step:>3}  loss on its shard {loss.item() * args.accumulate:.4f}")
    if rank == 0 and args.out:
        torch.save({name: p.detach().cpu() for name, p in model.module.state_dict().items()}, args.out)
        say(f"[rank 0] saved final weights to {Path(args.out).name}")


def step_seconds(model, optimizer, xb, yb, communicate: bool) -> float:
    """Wall-clock seconds of one training step, with the gradient all-reduce or inside ``no_sync``."""
    dist.barrier()
    started = time.perf_counter()
    with contextlib.nullcontext() if communicate else model.no_sync():
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(xb), yb).backward()
    optimizer.step()
    if xb.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - started


def quartiles(values: list[float]) -> list[float]:
    ordered = sorted(values)
    return [ordered[int(q * (len(ordered) - 1))] for q in (0.25, 0.5, 0.75)]


def time_steps(args, rank: int, world: int, device: torch.device) -> None:
    """Per bucket size: quartiles of the step time with and without all-reduce (steps alternate, so that
    load from other programs hits both alike), then the time of one all-reduce of every gradient alone."""
    x, y = synthetic_data(args.batch * world)
    rows = local_rows(0, args.batch, 1, rank, world)
    xb, yb = x[rows].to(device), y[rows].to(device)
    result = {"world": world, "threads": torch.get_num_threads(), "batch_per_process": args.batch, "buckets": {}}
    for bucket_mb in args.bucket_mb:
        model = DDP(mlp(args.width).to(device), bucket_cap_mb=bucket_mb,
                    device_ids=[device.index] if device.type == "cuda" else None)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        for _ in range(3):  # warm-up
            step_seconds(model, optimizer, xb, yb, True)
        pairs = [(step_seconds(model, optimizer, xb, yb, True), step_seconds(model, optimizer, xb, yb, False))
                 for _ in range(args.steps)]
        result["buckets"][str(bucket_mb)] = {"step_s": quartiles([a for a, _ in pairs]),
                                             "no_sync_step_s": quartiles([b for _, b in pairs])}
    flat = torch.zeros(sum(p.numel() for p in model.parameters()), device=device)
    times = []
    for _ in range(args.steps + 1):
        dist.barrier()
        started = time.perf_counter()
        dist.all_reduce(flat)
        if flat.is_cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    result.update(parameters=flat.numel(), all_reduce_s=quartiles(times[1:]))
    if rank == 0:
        say("[rank 0] " + json.dumps(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["train", "time"])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16, help="examples per process per (micro-)step")
    parser.add_argument("--accumulate", type=int, default=1, help="micro-batches per optimiser step")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--bucket-mb", type=float, nargs="+", default=[25.0], help="DDP gradient bucket sizes (MB) to time")
    parser.add_argument("--out", help="file for the final weights (rank 0)")
    args = parser.parse_args(argv)
    rank, world, device = setup()
    try:
        (train if args.mode == "train" else time_steps)(args, rank, world, device)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
