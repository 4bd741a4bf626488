import pytest
import torch

from utils.device import pick_device


@pytest.fixture
def no_accelerator(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)


def test_falls_back_to_cpu_without_cuda_or_mps(no_accelerator, capsys):
    assert pick_device() == torch.device("cpu")
    assert "Using device: cpu" in capsys.readouterr().out


def test_prefers_mps_when_cuda_is_absent(no_accelerator, monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device(verbose=False) == torch.device("mps")


def test_environment_variable_overrides(no_accelerator, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("cpu")
    assert "set by COURSE_DEVICE" in capsys.readouterr().out


def test_asking_for_absent_cuda_is_a_clear_error(no_accelerator, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="Unset COURSE_DEVICE"):
        pick_device()


def test_bad_device_name(no_accelerator, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "gpu-please")
    with pytest.raises(ValueError, match="not a device name"):
        pick_device()
