"""Data and model parallelism (lecture 9): two gloo processes launched by torchrun compute what one process computes."""
import json

import pytest
import torch

from utils.alexnet_columns import alexnet_grouped, column_weights, exchanged_elements
from utils.ddp_demo import local_rows, synthetic_data, train_one_process
from utils.distributed import scrub_paths, torchrun


def test_two_processes_with_batch_b_equal_one_process_with_batch_2b(tmp_path):
    out = tmp_path / "ddp.pt"
    log = torchrun("utils.ddp_demo", "train", "--steps", "4", "--batch", "4", "--width", "32", "--out", out, nproc=2)
    assert "[rank 1/2] backend" in log and str(tmp_path) not in log
    ddp = torch.load(out, weights_only=True)
    one = train_one_process(steps=4, batch=8, width=32)
    accumulated = train_one_process(steps=4, batch=4, accumulate=2, width=32)
    assert ddp.keys() == one.keys()
    for name in one:
        assert ddp[name].dtype == torch.float64
        torch.testing.assert_close(ddp[name], one[name], rtol=0, atol=1e-13)
        torch.testing.assert_close(accumulated[name], one[name], rtol=0, atol=1e-13)
    assert max((ddp[k] - train_one_process(steps=0, batch=8, width=32)[k]).abs().max() for k in one) > 1e-3  # it trained


def test_processes_take_disjoint_shards_of_each_global_batch():
    rows = [range(16)[local_rows(step=1, batch=2, accumulate=2, rank=r, world=2)] for r in range(2)]
    assert list(rows[0]) == [8, 9, 10, 11] and list(rows[1]) == [12, 13, 14, 15]
    x, y = synthetic_data(50)
    assert x.shape == (50, 784) and y.unique().numel() > 1


def test_scrub_paths_removes_machine_paths(tmp_path):
    text = scrub_paths(f"saved to {tmp_path}/a.pt from /usr/lib/python3/x.py")
    assert "/tmp/" not in text and "/usr/lib" not in text and "a.pt" in text


def test_columns_slice_the_grouped_network():
    reference = alexnet_grouped(num_classes=10, width=1 / 16)
    left, right = column_weights(reference, 0), column_weights(reference, 1)
    conv3 = reference[8].weight  # the layer that reads both columns
    torch.testing.assert_close(torch.cat([left["conv3.weight"], right["conv3.weight"]]), conv3)
    assert left["conv3.weight"].shape[1] == conv3.shape[1]
    assert exchanged_elements(227, per_layer=False) < exchanged_elements(227, per_layer=True)


def test_two_process_alexnet_columns_equal_grouped_network(tmp_path):
    out = tmp_path / "columns.json"
    torchrun("utils.alexnet_columns", "--width", "0.0625", "--size", "67", "--out", out, nproc=2)
    result = json.loads(out.read_text())
    assert result["max_output_difference"] < 1e-12 and result["max_gradient_difference"] < 1e-12
