"""Flower's object pulls with a short first retry, in every process that pulls messages.

A Flower message travels as a head (``PushMessages``) and then its objects
(``PushObject``), so a receiver that sees the head first finds the objects not yet
there. Flower 1.41/1.42 then waits ``PULL_INITIAL_BACKOFF`` = 1 s (doubling, capped at
10 s) before asking again (``flwr.supercore.inflatable.inflatable_utils.pull_objects``).
That happens at three hops of every crossforce message — the SuperNode pulling a
question from the SuperLink, the relay task pulling it from its SuperNode, the ServerApp
pulling the reply — so a round step waited ~1 s per hop for objects that arrived a few
milliseconds later, and the nodes' answers, arriving a second apart, were built one
after another instead of together (measured: deployed round 2.95x the in-process one).

Neither wait has a setting; both are keyword defaults of two functions, so
:func:`shorten_object_pulls` sets those defaults in the calling process only: first
retry after ``CROSSFORCE_PULL_BACKOFF`` seconds (default 0.02), doubling up to
``CROSSFORCE_PULL_BACKOFF_CAP`` (default 0.5). A pull of an object that really is late
(a large payload still uploading) costs one small request per retry, at most two a
second once capped. Nothing else of Flower changes: retries, limits and errors stay.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

BACKOFF_ENV = "CROSSFORCE_PULL_BACKOFF"
CAP_ENV = "CROSSFORCE_PULL_BACKOFF_CAP"
DEFAULT_BACKOFF = 0.02
DEFAULT_CAP = 0.5


def env_seconds(environ: Mapping[str, str], name: str, default: float, low: float,
                high: float) -> float:
    """Seconds from environment variable ``name`` (``default`` when unset), between
    ``low`` and ``high``; anything else stops the process with one clear line."""
    text = environ.get(name, "")
    try:
        value = float(text) if text else default
    except ValueError:
        raise SystemExit(f"{name}={text!r}: give seconds, e.g. {default}") from None
    if not low <= value <= high:
        raise SystemExit(f"{name}={text!r}: give between {low:g} and {high:g} seconds")
    return value


def pull_backoff(environ: Mapping[str, str] = os.environ) -> tuple[float, float]:
    """(first retry, cap) in seconds from the environment; a clear error for bad values."""
    first = env_seconds(environ, BACKOFF_ENV, DEFAULT_BACKOFF, 0.005, 1.0)
    cap = env_seconds(environ, CAP_ENV, DEFAULT_CAP, first, 10.0)
    return first, cap


def shorten_object_pulls(environ: Mapping[str, str] = os.environ) -> tuple[float, float]:
    """Make this process's Flower object pulls retry after (first, cap) seconds instead
    of Flower's (1, 10); returns them. Idempotent."""
    from flwr.supercore.inflatable import inflatable_utils

    first, cap = pull_backoff(environ)
    for function in (inflatable_utils.pull_objects,
                     inflatable_utils.pull_and_inflate_object_from_tree):
        defaults = function.__kwdefaults__
        if defaults is None or "initial_backoff" not in defaults:
            raise RuntimeError(f"Flower's {function.__qualname__} no longer takes "
                               "initial_backoff: check federation.flower.pulls against "
                               "this Flower version")
        defaults.update(initial_backoff=first, backoff_cap=cap)
    return first, cap
