"""Progress bars that fit where they are shown: a live widget in JupyterLab, a text bar on stderr in a
terminal, and nothing at all when ``TQDM_DISABLE`` is set (the test and notebook-regeneration commands set
it, so stored notebooks and logs hold no frozen bars).

``tqdm.auto`` alone is not enough: its notebook bar ignores ``TQDM_DISABLE`` (only the text bar reads the
``TQDM_*`` variables), so a notebook executed with it set still stores a widget view frozen at 0 %.
"""
from __future__ import annotations

import os

from tqdm.auto import tqdm


def progress_disabled() -> bool:
    """Whether ``TQDM_DISABLE`` asks for no progress bars (any value but ``""``, ``0``, ``false``, ``no``)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress(iterable=None, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(iterable, **kwargs)`` that honours ``TQDM_DISABLE`` in notebooks too."""
    kwargs["disable"] = kwargs.get("disable", False) or progress_disabled()
    return tqdm(iterable, **kwargs)
