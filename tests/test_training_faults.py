"""Faults the training helpers must catch (issue 12): resuming with NumPy/Python randomness in the
transforms, a non-finite validation loss, empty loaders, a checkpoint from another model; and progress
bars that show where they should (issue 14): text in a terminal, a live widget in Jupyter, nothing stored
when ``TQDM_DISABLE=1``."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from torch import nn

from utils.reproducibility import seed_everything
from utils.training import TensorLoader, evaluate, fit, predict

from test_training import blobs, small_net  # the same toy problem as the training tests


def jitter(batch: torch.Tensor) -> torch.Tensor:
    """An augmentation written with NumPy and Python randomness, as students write them."""
    noise = torch.from_numpy(np.random.normal(0.0, 0.3, size=tuple(batch.shape))).float()
    return batch * random.uniform(0.8, 1.2) + noise


def train_with_numpy_augmentation(epochs, checkpoint=None, crash_at_step=None):
    seed_everything(0)
    model = small_net()
    x, y = blobs(200)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    if crash_at_step is not None:
        step, calls = optimizer.step, [0]

        def crashing_step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == crash_at_step:
                raise KeyboardInterrupt
            return step(*args, **kwargs)
        optimizer.step = crashing_step
    fit(model, TensorLoader(x, y, 32, shuffle=True, transform=jitter), nn.CrossEntropyLoss(), optimizer, epochs,
        checkpoint=checkpoint, verbose=False)
    return model


@pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)` has been overridden")
def test_resuming_restores_numpy_and_python_random_states(tmp_path):
    reference = train_with_numpy_augmentation(4)
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # dies in epoch 3 (7 batches per epoch)
        train_with_numpy_augmentation(4, checkpoint, crash_at_step=17)
    resumed = train_with_numpy_augmentation(4, checkpoint)  # a new session: every generator reseeded
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_validation_loss_stops_training(bad):
    x, y = blobs(64)
    x_val = x.clone()
    x_val[5, 1] = bad
    model = small_net()
    with pytest.raises(FloatingPointError, match=r"validation loss is (nan|inf) after epoch 1 .*validation inputs"):
        fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=3, val_data=TensorLoader(x_val, y, 16), verbose=False)


def test_predict_and_evaluate_on_an_empty_loader_say_so():
    model = small_net()
    empty = TensorLoader(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 8)
    with pytest.raises(ValueError, match="predict got no batches: the data set or loader is empty"):
        predict(model, empty)
    with pytest.raises(ValueError, match="evaluate got no batches: the data set or loader is empty"):
        evaluate(model, empty, nn.CrossEntropyLoss())
    with pytest.raises(ValueError, match="predict got no batches"):
        predict(model, [])


def test_a_checkpoint_from_another_model_names_the_keys(tmp_path):
    x, y = blobs(64)
    checkpoint = tmp_path / "run.pt"
    model = small_net()
    fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1,
        checkpoint=checkpoint, verbose=False)
    other = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3), nn.Linear(3, 3))
    with pytest.raises(ValueError, match=r"saved from a different model; missing from the checkpoint: 4\.weight, "
                                         r"4\.bias; shape in checkpoint vs model: 0\.weight \(16, 2\) vs \(8, 2\)"):
        fit(other, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), torch.optim.SGD(other.parameters(), lr=0.1), 2,
            checkpoint=checkpoint, verbose=False)


# ---------------------------------------------------------------- progress bars

FIT_CODE = (
    "import torch; from torch import nn; from utils.training import fit, TensorLoader\n"
    "x, y = torch.randn(400, 2), torch.randint(0, 2, (400,))\n"
    "m = nn.Linear(2, 2)\n"
    "h = fit(m, TensorLoader(x, y, 4), nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), 0.1), 2)\n"
)


def run_in_kernel(monkeypatch, tmp_path, tqdm_disable: str | None) -> list[dict]:
    """Execute a one-cell notebook that calls ``fit`` in a fresh kernel; return the cell's outputs."""
    if tqdm_disable is None:
        monkeypatch.delenv("TQDM_DISABLE", raising=False)
    else:
        monkeypatch.setenv("TQDM_DISABLE", tqdm_disable)
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIT_CODE)])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook.cells[0].outputs


def widget_views(outputs) -> list:
    return [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


def texts(outputs) -> str:
    return "".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", "")) for o in outputs)


def test_no_progress_bar_is_stored_when_disabled(monkeypatch, tmp_path):
    outputs = run_in_kernel(monkeypatch, tmp_path, "1")
    assert not widget_views(outputs), "a progress widget would be stored, frozen, in the notebook"
    assert "0%|" not in texts(outputs) and "it/s" not in texts(outputs)
    assert texts(outputs).count("epoch ") == 2  # the epoch lines are kept


def test_a_live_bar_in_jupyter_when_enabled(monkeypatch, tmp_path):
    assert widget_views(run_in_kernel(monkeypatch, tmp_path, None))


@pytest.mark.parametrize("disable", [None, "1"])
def test_a_text_bar_in_a_terminal_unless_disabled(disable):
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    if disable:
        env["TQDM_DISABLE"] = disable
    result = subprocess.run([sys.executable, "-c", FIT_CODE], capture_output=True, text=True, env=env, check=True)
    if disable:
        assert result.stderr == ""
    else:
        assert "epoch 1/2:" in result.stderr and "it/s" in result.stderr
    assert result.stdout.count("epoch ") == 2
