"""Coursework tooling: student versions (``release``) and the autograder (``grade``)."""
