"""Shared helpers for the Deep Learning lecture notebooks.

One module per concern: ``device``, ``reproducibility``, ``data`` (one module per data set),
``training``, ``plotting``. Import what you need, e.g.
``from utils.training import fit``.
"""
