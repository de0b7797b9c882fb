"""User-facing errors: one line saying what is wrong and what to change."""

from __future__ import annotations


class CrossforceError(Exception):
    """A mistake the user can fix (bad input, bad arguments). Shown without a traceback."""
