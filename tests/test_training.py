import os
import subprocess
import sys

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from utils.reproducibility import seed_everything
from utils.training import (
    History,
    TensorLoader,
    accuracy,
    confusion_matrix,
    evaluate,
    fit,
    predict,
)


def blobs(n=256, seed=0):
    """Three Gaussian blobs in 2-D: an easy classification problem."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    return centres[y] + 0.7 * torch.randn(n, 2, generator=g), y


def small_net():
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


def test_fit_lowers_the_loss_and_records_history():
    seed_everything(0)
    x, y = blobs()
    model = small_net()
    history = fit(model, TensorLoader(x, y, 32, shuffle=True), nn.CrossEntropyLoss(),
                  torch.optim.SGD(model.parameters(), lr=0.1), epochs=8,
                  val_data=TensorLoader(x, y, 64), metrics={"accuracy": accuracy}, verbose=False)
    assert len(history) == 8 and history["epoch"] == list(range(1, 9))
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history.last["val_accuracy"] > 0.9
    assert {"train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "time"} <= set(history.last)
    # the recorded validation figures are what evaluate() gives for the final model
    scores = evaluate(model, TensorLoader(x, y, 64), nn.CrossEntropyLoss(), {"accuracy": accuracy})
    assert scores["loss"] == pytest.approx(history.last["val_loss"])
    assert scores["accuracy"] == pytest.approx(history.last["val_accuracy"])


def test_fit_prints_one_line_per_epoch(capsys):
    x, y = blobs(64)
    model = small_net()
    fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=3, metrics={"accuracy": accuracy})
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3") and "train_accuracy" in lines[0]


def test_progress_bars_do_not_spam_logs_when_disabled():
    """What nbval and the notebook regeneration see: TQDM_DISABLE=1 leaves only the epoch lines."""
    code = (
        "import torch; from torch import nn; from utils.training import fit, TensorLoader\n"
        "x, y = torch.randn(500, 2), torch.randint(0, 2, (500,))\n"
        "m = nn.Linear(2, 2)\n"
        "fit(m, TensorLoader(x, y, 5), nn.CrossEntropyLoss(), torch.optim.SGD(m.parameters(), 0.1), 3)\n"
    )
    env = {**os.environ, "TQDM_DISABLE": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stderr == ""
    assert len(result.stdout.strip().splitlines()) == 3


def run_training(loader_kind: str, epochs: int, checkpoint=None, interrupt_at_step=None, init_seed=0):
    """Train a dropout MLP with momentum SGD and a step schedule; optionally crash mid-run."""
    seed_everything(init_seed)
    model = small_net()
    seed_everything(0)  # the data order and dropout masks start from the same state in every run
    x, y = blobs(200)
    if loader_kind == "tensor":
        loader = TensorLoader(x, y, 32, shuffle=True, seed=1)
    else:
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    if interrupt_at_step is not None:
        step, calls = optimizer.step, [0]

        def crashing_step(*args, **kwargs):
            calls[0] += 1
            if calls[0] == interrupt_at_step:
                raise KeyboardInterrupt
            return step(*args, **kwargs)
        optimizer.step = crashing_step
    history = fit(model, loader, nn.CrossEntropyLoss(), optimizer, epochs, val_data=TensorLoader(x, y, 100),
                  scheduler=scheduler, checkpoint=checkpoint, verbose=False)
    return model, history


@pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)` has been overridden")
@pytest.mark.parametrize("loader_kind", ["tensor", "dataloader"])
def test_resuming_an_interrupted_run_reproduces_it_exactly(tmp_path, loader_kind):
    reference, reference_history = run_training(loader_kind, epochs=5)
    checkpoint = tmp_path / "run.pt"
    with pytest.raises(KeyboardInterrupt):  # dies in the middle of epoch 3 (7 batches per epoch)
        run_training(loader_kind, epochs=5, checkpoint=checkpoint, interrupt_at_step=17)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2
    resumed, resumed_history = run_training(loader_kind, epochs=5, checkpoint=checkpoint, init_seed=99)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    strip = [{k: v for k, v in r.items() if k != "time"} for r in reference_history.records]
    assert strip == [{k: v for k, v in r.items() if k != "time"} for r in resumed_history.records]


def test_finished_checkpoint_loads_without_training(tmp_path, capsys):
    checkpoint = tmp_path / "done.pt"
    trained, _ = run_training("tensor", epochs=2, checkpoint=checkpoint)
    loaded, history = run_training("tensor", epochs=2, checkpoint=checkpoint, init_seed=5)
    assert len(history) == 2
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), loaded.state_dict().values()))
    assert not list(tmp_path.glob("*.part"))


def test_nan_loss_stops_with_a_clear_message():
    x, y = blobs(64)
    x[40, 0] = float("nan")
    model = small_net()
    with pytest.raises(FloatingPointError, match=r"loss became nan at epoch 1, batch 2.*learning rate"):
        fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=2, verbose=False)


def test_diverging_learning_rate_stops():
    x = torch.randn(64, 1)
    model = nn.Linear(1, 1)
    with pytest.raises(FloatingPointError, match="diverged"):
        fit(model, TensorLoader(x, 3 * x, 8), nn.MSELoss(), torch.optim.SGD(model.parameters(), lr=50.0),
            epochs=50, verbose=False)


def test_wrong_input_shape_is_explained():
    x, y = blobs(32)
    model = nn.Linear(5, 3)
    with pytest.raises(ValueError, match=r"first batch failed \(inputs \(8, 2\), targets \(8,\)\)"):
        fit(model, TensorLoader(x, y, 8), nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1), 1)


def test_wrong_target_shape_is_explained():
    x, y = blobs(32)
    model = small_net()
    with pytest.raises(ValueError, match=r"model output \(8, 3\)"):
        fit(model, TensorLoader(x, y.float()[:, None].expand(-1, 2), 8), nn.MSELoss(),
            torch.optim.SGD(model.parameters(), lr=0.1), 1)


def test_empty_loader_and_bad_batches():
    model = small_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    empty = TensorLoader(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long), 8)
    with pytest.raises(ValueError, match="produced no batches"):
        fit(model, empty, nn.CrossEntropyLoss(), optimizer, 1)
    with pytest.raises(ValueError, match="got no batches"):
        evaluate(model, empty, nn.CrossEntropyLoss())
    with pytest.raises(TypeError, match="pair \\(inputs, targets\\)"):
        fit(model, [torch.zeros(4, 2)], nn.CrossEntropyLoss(), optimizer, 1)
    with pytest.raises(ValueError, match="must return a scalar"):
        fit(model, [blobs(8)], nn.CrossEntropyLoss(reduction="none"), optimizer, 1)
    with pytest.raises(ValueError, match="x has 5 rows but y has 4"):
        TensorLoader(torch.zeros(5, 2), torch.zeros(4), 2)
    with pytest.raises(ValueError, match="epochs must be"):
        fit(model, [blobs(8)], nn.CrossEntropyLoss(), optimizer, 0)


def test_tensor_loader_visits_every_row_once_per_epoch():
    x = torch.arange(10).float()[:, None]
    loader = TensorLoader(x, torch.arange(10), batch_size=4, shuffle=True, transform=lambda t: t * 2)
    assert len(loader) == 3
    seen = torch.cat([yb for _, yb in loader])
    assert sorted(seen.tolist()) == list(range(10))
    xb, yb = next(iter(loader))
    assert torch.equal(xb[:, 0], 2 * yb.float())
    assert len(TensorLoader(x, torch.arange(10), batch_size=4, drop_last=True)) == 2


def test_evaluate_predict_and_confusion_matrix_agree():
    x, y = blobs(90)
    model = small_net()
    scores = evaluate(model, TensorLoader(x, y, 32), metrics={"accuracy": accuracy})
    outputs, targets = predict(model, TensorLoader(x, y, 32))
    predictions = outputs.argmax(1)
    assert scores["accuracy"] == pytest.approx((predictions == y).float().mean().item())
    matrix = confusion_matrix(predictions, targets, 3)
    assert matrix.sum() == 90 and matrix.trace() == (predictions == y).sum()
    for i in range(3):
        for j in range(3):
            assert matrix[i, j] == ((targets == i) & (predictions == j)).sum()
    assert model.training  # evaluate/predict restore the mode


def test_history_columns():
    history = History([{"epoch": 1, "train_loss": 2.0}, {"epoch": 2, "train_loss": 1.0, "val_loss": 1.5}])
    assert history["train_loss"] == [2.0, 1.0] and history["val_loss"] == [1.5]
    assert history.last["epoch"] == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fit_on_cuda_uses_bf16_autocast():
    x, y = blobs()
    model = small_net()
    seen = []
    model[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    history = fit(model, TensorLoader(x, y, 32, device="cuda"), nn.CrossEntropyLoss(),
                  torch.optim.SGD(model.parameters(), lr=0.1), 3, device="cuda", verbose=False)
    assert seen[0] == torch.bfloat16 and history["train_loss"][-1] < history["train_loss"][0]


def test_scheduler_steps_per_batch_or_per_epoch():
    x, y = blobs(64)
    for every, expected_steps in (("batch", 3 * 4), ("epoch", 3)):
        model = small_net()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (1 + step))
        fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), optimizer, 3, scheduler=scheduler,
            scheduler_every=every, verbose=False)
        assert scheduler.last_epoch == expected_steps
    with pytest.raises(ValueError, match="scheduler_every"):
        fit(model, TensorLoader(x, y, 16), nn.CrossEntropyLoss(), optimizer, 1, scheduler=scheduler,
            scheduler_every="step", verbose=False)
