"""Shared helpers for the Deep Learning lecture notebooks.

One module per concern: ``device``, ``reproducibility``, ``data``, ``download``,
``training``, ``plotting``. Import what you need, e.g.
``from utils.training import fit``.
"""
