"""Launch a course script on several processes with ``torchrun`` and return its log (lecture 9).

``torchrun --standalone`` starts the rendezvous on a free local port, so concurrent launches (two pytest workers,
two notebooks) never collide on a fixed port.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def say(line: str) -> None:
    """Print one whole line with a single write, so that lines of different processes never interleave."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def scrub_paths(text: str) -> str:
    """Replace absolute paths of this machine (repository, temporary folders, home) by short placeholders."""
    for folder, name in [(Path(__file__).resolve().parents[1], "<repo>"), (Path(tempfile.gettempdir()), "<tmp>"),
                         (Path(sys.prefix), "<venv>"), (Path.home(), "~")]:
        text = text.replace(str(folder), name)
    return re.sub(r"(?<![\w.<>~])/(?:[\w.+-]+/)+", "<path>/", text)


def torchrun(module: str, *args: str, nproc: int = 2, threads: int = 1, timeout: float = 300) -> str:
    """Run ``python -m torch.distributed.run --standalone --nproc_per_node=nproc -m module *args``.

    Each process gets ``threads`` OpenMP threads. Returns the combined, path-scrubbed log; raises
    ``RuntimeError`` with that log if any process fails.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", module, *map(str, args)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    log = scrub_paths(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exited with status {done.returncode}:\n{log}")
    return log
