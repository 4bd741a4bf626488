"""Pick the compute device: the accelerator PyTorch finds (CUDA, Apple MPS, Intel XPU, ...), else the CPU.

``torch.accelerator`` knows which accelerator this build of PyTorch drives and whether one is present.
Set ``COURSE_DEVICE`` (e.g. ``cpu``, ``cuda``, ``cuda:1``, ``mps``, ``xpu``) to override the choice.
"""
from __future__ import annotations

import os

import torch

ENV_VAR = "COURSE_DEVICE"
NAMES = {"cuda": "CUDA", "mps": "Apple MPS", "xpu": "Intel XPU"}


def _available_accelerator() -> torch.device | None:
    return torch.accelerator.current_accelerator(check_available=True)


def _check_available(device: torch.device) -> None:
    if device.type == "cpu":
        return
    accelerator = _available_accelerator()
    name = NAMES.get(device.type, device.type)
    if accelerator is None or accelerator.type != device.type:
        found = f"only {NAMES.get(accelerator.type, accelerator.type)} is" if accelerator else "no accelerator is"
        raise RuntimeError(
            f"{ENV_VAR}={device} asks for {name}, but {found} available to this PyTorch. "
            f"Unset {ENV_VAR} to fall back automatically, or install a build of torch for {name}."
        )
    if device.index is not None and device.index >= torch.accelerator.device_count():
        raise RuntimeError(
            f"{ENV_VAR}={device}, but only {torch.accelerator.device_count()} {name} device(s) are visible."
        )


def pick_device(verbose: bool = True) -> torch.device:
    """Return the available accelerator (CUDA, MPS, XPU, ...) or the CPU, or the device named by ``COURSE_DEVICE``.

    With ``verbose`` it prints what was picked and why, so a notebook's output records it.
    """
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"{ENV_VAR}={requested!r} is not a device name; use cpu, cuda, cuda:N, mps or xpu."
            ) from err
        _check_available(device)
        reason = f"set by {ENV_VAR}"
    elif (accelerator := _available_accelerator()) is not None:
        device, reason = accelerator, f"{NAMES.get(accelerator.type, accelerator.type)} is available"
    else:
        device, reason = torch.device("cpu"), "no accelerator (CUDA, MPS, XPU) found"
    if verbose:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
        print(f"Using device: {device}{f' ({name})' if name else ''}; {reason}.")
    return device
