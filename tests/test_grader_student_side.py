"""The student side of the grader, shipped in the student repository: the release notebooks load, their locked cells
compile, they carry no outputs, and the data format the grader receives round-trips without pickle."""
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
from torch import nn

from coursework import harness

RELEASE = Path(harness.__file__).resolve().parent / "release"
NOTEBOOKS = sorted(RELEASE.glob("*.ipynb"))


def test_there_are_release_notebooks():
    assert [p.stem for p in NOTEBOOKS] == ["01_optimisers", "02_backprop", "03_cnn_budget", "04_teacher_student"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_release_notebook_loads_and_its_code_compiles(path):
    from IPython.core.inputtransformer2 import TransformerManager

    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None
            compile(TransformerManager().transform_cell(cell.source), path.name, "exec")
    assert any("raise NotImplementedError()" in cell.source for cell in notebook.cells)


def test_plain_data_round_trips_without_pickle():
    value = {"x": torch.arange(6, dtype=torch.float64).reshape(2, 3), "t": 3, "betas": (0.9, 0.999),
             "a": np.ones(4, dtype=np.uint8), "nested": [1.5, None, "text", {"k": True}]}
    back = harness.decode(harness.encode(value))
    assert torch.equal(back["x"], value["x"]) and back["x"].dtype == torch.float64
    assert back["t"] == 3 and back["betas"] == (0.9, 0.999) and back["nested"] == value["nested"]
    assert back["a"].dtype == np.uint8 and (back["a"] == 1).all()
    with pytest.raises(TypeError, match="cannot send"):
        harness.encode(object())
    with pytest.raises(ValueError):
        harness.decode({"__array__": "object", "shape": [1], "data": ""})


def test_models_are_sent_as_layers_and_weights():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 14 * 14, 10))
    sent = harness.decode(harness.encode(model))
    assert [layer["type"] for layer in sent["model"]] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Flatten",
                                                         "Linear"]
    assert set(sent["state"]) == set(model.state_dict())

    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="nn.Sequential"):
        harness.encode(Custom())
    with pytest.raises(TypeError, match="not allowed"):
        harness.encode(nn.Sequential(Custom()))


def test_the_grader_rebuilds_a_sent_model_exactly():
    if not (Path(harness.__file__).parent / "grade.py").exists():
        pytest.skip("the grader (instructor side) is not part of the student repository")
    from coursework import grade
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 14 * 14, 10)).eval()
    model[1].running_mean += 0.5
    rebuilt = grade._tensors(harness.decode(harness.encode(model)))
    x = torch.randn(2, 1, 28, 28)
    assert torch.equal(rebuilt(x), model(x))
    spec = harness.decode(harness.encode(model))
    spec["model"][0]["type"] = "Upsample"
    with pytest.raises(grade.RemoteError, match="does not accept"):
        grade.build_model(spec["model"], spec["state"])
