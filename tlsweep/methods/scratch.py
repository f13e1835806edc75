"""``method=scratch``: the baseline. Random initialisation, target task only."""

from __future__ import annotations

from tlsweep.methods.base import Method


class Scratch(Method):
    """Train encoder and head from random weights on the labelled target set only."""
