"""Pick the compute device: CUDA, then Apple MPS, then CPU.

Set ``COURSE_DEVICE`` (e.g. ``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override the choice.
"""
from __future__ import annotations

import os

import torch

ENV_VAR = "COURSE_DEVICE"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _check_available(device: torch.device) -> None:
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"{ENV_VAR}={device} asks for CUDA, but torch.cuda.is_available() is False. "
                f"Unset {ENV_VAR} to fall back automatically, or install a CUDA build of torch."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(
                f"{ENV_VAR}={device}, but only {torch.cuda.device_count()} CUDA device(s) are visible."
            )
    elif device.type == "mps" and not _mps_available():
        raise RuntimeError(f"{ENV_VAR}={device} asks for Apple MPS, which is not available here.")


def pick_device(verbose: bool = True) -> torch.device:
    """Return the best available device (cuda → mps → cpu), or the one named by ``COURSE_DEVICE``.

    With ``verbose`` it prints what was picked and why, so a notebook's output records it.
    """
    requested = os.environ.get(ENV_VAR, "").strip()
    if requested:
        try:
            device = torch.device(requested)
        except RuntimeError as err:
            raise ValueError(
                f"{ENV_VAR}={requested!r} is not a device name; use cpu, cuda, cuda:N or mps."
            ) from err
        _check_available(device)
        reason = f"set by {ENV_VAR}"
    elif torch.cuda.is_available():
        device, reason = torch.device("cuda"), "CUDA is available"
    elif _mps_available():
        device, reason = torch.device("mps"), "Apple MPS is available"
    else:
        device, reason = torch.device("cpu"), "no CUDA or MPS device found"
    if verbose:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
        print(f"Using device: {device}{f' ({name})' if name else ''}; {reason}.")
    return device
