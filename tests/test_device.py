import pytest
import torch

from utils.device import pick_device


def pretend(monkeypatch, accelerator: str | None, count: int = 1):
    """Make ``torch.accelerator`` report ``accelerator`` ("cuda", "mps", "xpu") with ``count`` devices, or none."""
    device = torch.device(accelerator) if accelerator else None
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda check_available=False: device)
    monkeypatch.setattr(torch.accelerator, "device_count", lambda: count if accelerator else 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Pretend GPU")


@pytest.fixture
def no_accelerator(monkeypatch):
    pretend(monkeypatch, None)
    monkeypatch.delenv("COURSE_DEVICE", raising=False)


def test_falls_back_to_cpu_without_an_accelerator(no_accelerator, capsys):
    assert pick_device() == torch.device("cpu")
    assert "Using device: cpu" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["cuda", "mps", "xpu"])
def test_picks_the_accelerator_torch_finds(no_accelerator, monkeypatch, capsys, kind):
    pretend(monkeypatch, kind)
    assert pick_device() == torch.device(kind)
    assert f"Using device: {kind}" in capsys.readouterr().out


def test_environment_variable_overrides(no_accelerator, monkeypatch, capsys):
    pretend(monkeypatch, "mps")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    assert "set by COURSE_DEVICE" in capsys.readouterr().out


def test_asking_for_absent_cuda_is_a_clear_error(no_accelerator, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="asks for CUDA, but no accelerator is available.*Unset COURSE_DEVICE"):
        pick_device()
    pretend(monkeypatch, "mps")
    with pytest.raises(RuntimeError, match="asks for CUDA, but only Apple MPS is available"):
        pick_device()


def test_asking_for_a_device_index_that_is_not_there(no_accelerator, monkeypatch):
    pretend(monkeypatch, "cuda", count=2)
    monkeypatch.setenv("COURSE_DEVICE", "cuda:1")
    assert pick_device(verbose=False) == torch.device("cuda:1")
    monkeypatch.setenv("COURSE_DEVICE", "cuda:2")
    with pytest.raises(RuntimeError, match="only 2 CUDA device"):
        pick_device()


def test_bad_device_name(no_accelerator, monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "gpu-please")
    with pytest.raises(ValueError, match="not a device name"):
        pick_device()


def test_the_real_machine():
    """No pretending: the pick agrees with what torch.accelerator says about this machine."""
    expected = torch.accelerator.current_accelerator() if torch.accelerator.is_available() else torch.device("cpu")
    assert pick_device(verbose=False).type == expected.type
