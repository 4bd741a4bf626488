"""Training helpers shared by every training notebook: ``fit``, ``evaluate`` and friends.

``fit`` trains any model with any loss and optimiser, records a per-epoch ``History``, uses
bf16 autocast and non-blocking copies on CUDA, stops with a clear message when the training or
validation loss is NaN/inf, and with ``checkpoint=`` saves after every epoch and resumes where it
stopped (on the CPU the resumed run equals the uninterrupted one exactly: the model, optimiser,
scheduler and the torch, NumPy, Python ``random`` and loader RNG states are all restored).

Progress bars (``utils.progress``): a live bar in JupyterLab, a text bar in a terminal, none when
``TQDM_DISABLE=1`` (the test and notebook-regeneration commands set it, so stored notebooks stay clean).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
from torch import nn

from utils.progress import progress

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max over classes equals the integer target."""
    return (output.argmax(dim=1) == target).float().mean()


class TensorLoader:
    """Minibatches drawn from tensors that live on one device: the fast path for small data sets.

    ``x`` and ``y`` are moved to ``device`` once; each epoch is a fresh permutation drawn from
    the loader's own seeded ``generator`` (saved and restored by ``fit``'s checkpoints).
    ``transform`` is applied to each input batch on the device (e.g. uint8 → normalised float).
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: bool = False,
                 device: torch.device | str | None = None,
                 transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 seed: int = 0, drop_last: bool = False):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}; they must match.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        device = device if device is not None else x.device
        self.x, self.y = x.to(device), y.to(device)
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.transform = transform
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        n = len(self.x)
        order = (torch.randperm(n, generator=self.generator).to(self.x.device) if self.shuffle
                 else torch.arange(n, device=self.x.device))
        for batch in range(len(self)):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            xb = self.x[index]
            yield (self.transform(xb) if self.transform else xb), self.y[index]


class History:
    """Per-epoch records of ``fit``: ``history["val_accuracy"]`` is that column as a list."""

    def __init__(self, records: list[dict] | None = None):
        self.records: list[dict] = list(records or [])

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list[float]:
        return [record[key] for record in self.records if key in record]

    @property
    def last(self) -> dict:
        return self.records[-1] if self.records else {}

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, last={self.last})"


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError(f"each batch must be a pair (inputs, targets), got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    return batch[0], batch[1]


def _to(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    return tensor.to(device, non_blocking=device.type == "cuda")


def _autocast(device: torch.device, amp: bool):
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def _forward(model, loss_fn, x, y, device, amp, first: bool):
    """Model output and loss; on the first batch, shape errors are explained."""
    with _autocast(device, amp):
        output = None
        try:
            output = model(x)
            loss = loss_fn(output, y) if loss_fn is not None else None
        except (RuntimeError, ValueError, IndexError) as err:
            if not first:
                raise
            shapes = f"inputs {tuple(x.shape)}, targets {tuple(y.shape)}"
            if output is not None:
                shapes += f", model output {tuple(output.shape)}"
            raise ValueError(f"the first batch failed ({shapes}): {err}\n"
                             "Check that the model's input size matches the data and that the "
                             "output and targets have the shapes the loss expects.") from err
    if loss is not None and loss.dim() != 0:
        raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}; "
                         "use reduction='mean'.")
    return output, loss


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, loss_fn: Callable | None = None,
             metrics: Mapping[str, Metric] | None = None, device: torch.device | None = None,
             amp: bool | None = None) -> dict[str, float]:
    """Mean loss and metrics of ``model`` over ``data`` (weighted by batch size), in eval mode."""
    device = device or _device_of(model)
    amp = device.type == "cuda" if amp is None else amp
    metrics = metrics or {}
    was_training = model.training
    model.eval()
    totals = {name: 0.0 for name in ["loss", *metrics] if name != "loss" or loss_fn is not None}
    count = 0
    for i, batch in enumerate(data):
        x, y = (_to(t, device) for t in _split_batch(batch))
        output, loss = _forward(model, loss_fn, x, y, device, amp, first=i == 0)
        n = len(y)
        if loss is not None:
            totals["loss"] += loss.item() * n
        for name, metric in metrics.items():
            totals[name] += float(metric(output.float(), y)) * n
        count += n
    model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got no batches: the data set or loader is empty.")
    return {name: total / count for name, total in totals.items()}


@torch.no_grad()
def predict(model: nn.Module, data: Iterable, device: torch.device | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """All model outputs and targets over ``data`` as two CPU tensors (eval mode)."""
    device = device or _device_of(model)
    was_training = model.training
    model.eval()
    outputs, targets = [], []
    for batch in data:
        x, y = _split_batch(batch)
        outputs.append(model(_to(x, device)).float().cpu())
        targets.append(y.cpu())
    model.train(was_training)
    if not outputs:
        raise ValueError("predict got no batches: the data set or loader is empty.")
    return torch.cat(outputs), torch.cat(targets)


def confusion_matrix(predictions: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``C[i, j]`` = number of examples of true class ``i`` predicted as class ``j``."""
    index = targets.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


# ---------------------------------------------------------------- checkpoints

def _rng_state(train_data) -> dict:
    numpy_state = np.random.get_state(legacy=False)
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                       "pos": numpy_state["state"]["pos"], "has_gauss": numpy_state["has_gauss"],
                       "gauss": numpy_state["gauss"]}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    generator = getattr(train_data, "generator", None)
    if isinstance(generator, torch.Generator):
        state["loader"] = generator.get_state()
    return state


def _set_rng_state(state: dict, train_data) -> None:
    torch.set_rng_state(state["torch"])
    if "python" in state:
        random.setstate(state["python"])
    if "numpy" in state:
        saved = state["numpy"]
        np.random.set_state({"bit_generator": "MT19937", "has_gauss": saved["has_gauss"], "gauss": saved["gauss"],
                             "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]}})
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator = getattr(train_data, "generator", None)
    if "loader" in state and isinstance(generator, torch.Generator):
        generator.set_state(state["loader"])


def save_checkpoint(path: Path | str, **state) -> None:
    """``torch.save`` through a temporary name, so an interruption never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    torch.save(state, part)
    os.replace(part, path)


def load_checkpoint(path: Path | str, map_location=None) -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


# ---------------------------------------------------------------- fit

def fit(model: nn.Module, train_data: Iterable, loss_fn: Callable, optimizer: torch.optim.Optimizer,
        epochs: int, *, val_data: Iterable | None = None, metrics: Mapping[str, Metric] | None = None,
        device: torch.device | str | None = None, scheduler=None, scheduler_every: str = "epoch",
        checkpoint: Path | str | None = None, amp: bool | None = None, verbose: bool = True) -> History:
    """Train ``model`` for ``epochs`` epochs and return the per-epoch ``History``.

    Each record holds ``epoch``, ``train_loss``, ``train_<metric>``, ``val_loss`` and
    ``val_<metric>`` (with ``val_data``), ``lr`` and ``time`` (seconds). ``scheduler`` is
    stepped once per epoch, or after every optimizer step with ``scheduler_every="batch"``
    (OneCycleLR). ``amp`` (default: on for CUDA) runs forward passes in bf16 autocast. With
    ``checkpoint`` the state is saved after every epoch and a run that finds the file resumes
    from it; a finished run's checkpoint makes ``fit`` return at once.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if scheduler_every not in ("epoch", "batch"):
        raise ValueError(f"scheduler_every must be 'epoch' or 'batch', not {scheduler_every!r}")
    device = torch.device(device) if device is not None else _device_of(model)
    amp = device.type == "cuda" if amp is None else amp
    metrics = dict(metrics or {})
    model.to(device)
    history, start = History(), 0
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device)
        _check_same_model(model, state["model"], checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and "scheduler" in state:
            scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], train_data)
        history, start = History(state["history"]), state["epoch"]
        if verbose:
            print(f"Resumed from {checkpoint} after epoch {start}.")

    for epoch in range(start + 1, epochs + 1):
        started = time.perf_counter()
        model.train()
        totals = dict.fromkeys(["loss", *metrics], 0.0)
        count = 0
        bar = progress(train_data, desc=f"epoch {epoch}/{epochs}", leave=False, mininterval=1.0)
        for batch_index, batch in enumerate(bar):
            x, y = (_to(t, device) for t in _split_batch(batch))
            output, loss = _forward(model, loss_fn, x, y, device, amp,
                                    first=epoch == start + 1 and batch_index == 0)
            loss_value = loss.item()
            if not torch.isfinite(torch.tensor(loss_value)):
                raise FloatingPointError(
                    f"the loss became {loss_value} at epoch {epoch}, batch {batch_index}: training "
                    "diverged. Lower the learning rate, check the inputs for NaN/inf, or clip gradients.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None and scheduler_every == "batch":
                scheduler.step()
            n = len(y)
            totals["loss"] += loss_value * n
            for name, metric in metrics.items():
                totals[name] += float(metric(output.detach().float(), y)) * n
            count += n
            bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
        bar.close()
        if count == 0:
            raise ValueError("train_data produced no batches: the data set is empty, or smaller than "
                             "batch_size with drop_last=True.")
        record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        record.update({f"train_{name}": total / count for name, total in totals.items()})
        if val_data is not None:
            scores = evaluate(model, val_data, loss_fn, metrics, device, amp)
            if not math.isfinite(scores["loss"]):
                raise FloatingPointError(
                    f"the validation loss is {scores['loss']} after epoch {epoch} (training loss "
                    f"{record['train_loss']:.4g}): the model's outputs on the validation data are not finite. "
                    "Check the validation inputs for NaN/inf and that they are preprocessed like the training "
                    "inputs; lower the learning rate if training is unstable.")
            record.update({f"val_{name}": value for name, value in scores.items()})
        if scheduler is not None and scheduler_every == "epoch":
            scheduler.step()
        record["time"] = time.perf_counter() - started
        history.records.append(record)
        if verbose:
            print(_format_record(record, epochs))
        if checkpoint is not None:
            save_checkpoint(checkpoint, epoch=epoch, model=model.state_dict(),
                            optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict() if scheduler is not None else {},
                            history=history.records, rng=_rng_state(train_data))
    return history


def _check_same_model(model: nn.Module, saved: Mapping[str, torch.Tensor], checkpoint) -> None:
    """Raise a clear error naming the keys that differ when ``saved`` is another model's state dict."""
    current = model.state_dict()
    missing = [key for key in current if key not in saved]
    unexpected = [key for key in saved if key not in current]
    reshaped = [f"{key} {tuple(saved[key].shape)} vs {tuple(value.shape)}" for key, value in current.items()
                if key in saved and saved[key].shape != value.shape]
    if missing or unexpected or reshaped:
        def some(keys):
            return ", ".join(keys[:5]) + (f" (and {len(keys) - 5} more)" if len(keys) > 5 else "")
        problems = [f"{label}: {some(keys)}" for label, keys in (
            ("missing from the checkpoint", missing), ("not in this model", unexpected),
            ("shape in checkpoint vs model", reshaped)) if keys]
        raise ValueError(f"the checkpoint {checkpoint} was saved from a different model; "
                         + "; ".join(problems) + ". Pass another checkpoint= path (or delete this file) to "
                         "start afresh, or build the model the checkpoint was saved from.")


def _format_record(record: dict, epochs: int) -> str:
    parts = [f"epoch {record['epoch']:>{len(str(epochs))}}/{epochs}"]
    for key, value in record.items():
        if key in ("epoch", "lr", "time"):
            continue
        parts.append(f"{key} {value:.2%}" if key.endswith("accuracy") else f"{key} {value:.4f}")
    parts.append(f"{record['time']:.1f} s")
    return "  ".join(parts)
