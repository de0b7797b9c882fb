"""Flower's fixed waits as crossforce shortens them: the SuperNode's poll, object pulls.

Flower 1.41/1.42 waits 3 s between idle polls of a SuperNode and 1 s before asking again
for a message's objects; crossforce shortens both in its own processes (issue #12: the
deployed round was ~3x the in-process one). These tests pin the decisions, not timings.
"""

from __future__ import annotations

import pytest
from flwr.supercore.inflatable import inflatable_utils

from federation.flower.pulls import pull_backoff, shorten_object_pulls
from federation.flower.supernode import (
    BUSY_WINDOW,
    LOCAL_WAIT,
    ShortWaits,
    noting_messages,
    poll_interval,
)


def test_an_idle_node_polls_at_the_idle_interval_and_a_busy_one_faster() -> None:
    waits = ShortWaits(poll=0.5, busy_poll=0.1)
    assert waits.wait_for(3, now=100.0) == 0.5  # never had a message
    waits.got_message(now=100.0)
    assert waits.wait_for(3, now=101.0) == 0.1  # a round's next step is coming
    assert waits.wait_for(3, now=100.0 + BUSY_WINDOW + 1) == 0.5  # idle again
    assert waits.wait_for(0.5, now=101.0) == LOCAL_WAIT  # waiting for the relay's reply


def test_the_busy_poll_is_never_slower_than_the_idle_one() -> None:
    waits = ShortWaits(poll=0.2, busy_poll=1.0)
    waits.got_message(now=0.0)
    assert waits.wait_for(3, now=1.0) == 0.2


def test_only_a_pulled_message_makes_the_node_busy() -> None:
    waits = ShortWaits(poll=0.5, busy_poll=0.1)
    answers = iter([None, 42])
    pull = noting_messages(lambda: next(answers), waits)
    assert pull() is None
    assert waits.last_message == -float("inf")
    assert pull() == 42
    assert waits.last_message > -float("inf")


def test_poll_settings_from_the_environment_are_checked() -> None:
    assert poll_interval({}) == 0.5
    assert poll_interval({"CROSSFORCE_SUPERNODE_BUSY_POLL": "0.2"},
                         name="CROSSFORCE_SUPERNODE_BUSY_POLL", default=0.1) == 0.2
    with pytest.raises(SystemExit, match="CROSSFORCE_SUPERNODE_POLL='fast'"):
        poll_interval({"CROSSFORCE_SUPERNODE_POLL": "fast"})
    with pytest.raises(SystemExit, match="between 0.05 and 3"):
        poll_interval({"CROSSFORCE_SUPERNODE_POLL": "10"})


def test_object_pulls_retry_after_the_short_backoff() -> None:
    functions = (inflatable_utils.pull_objects,
                 inflatable_utils.pull_and_inflate_object_from_tree)
    saved = [dict(f.__kwdefaults__) for f in functions]
    try:
        assert shorten_object_pulls({}) == (0.02, 0.5)
        for function in functions:
            assert function.__kwdefaults__["initial_backoff"] == 0.02
            assert function.__kwdefaults__["backoff_cap"] == 0.5
            # the rest of Flower's limits stay as they were
            assert function.__kwdefaults__["max_tries_per_object"] == 500
    finally:
        for function, defaults in zip(functions, saved, strict=True):
            function.__kwdefaults__.update(defaults)


def test_bad_backoff_settings_are_refused_by_name() -> None:
    with pytest.raises(SystemExit, match="CROSSFORCE_PULL_BACKOFF='soon'"):
        pull_backoff({"CROSSFORCE_PULL_BACKOFF": "soon"})
    with pytest.raises(SystemExit, match="CROSSFORCE_PULL_BACKOFF_CAP"):
        pull_backoff({"CROSSFORCE_PULL_BACKOFF": "0.1", "CROSSFORCE_PULL_BACKOFF_CAP": "0.05"})
    assert pull_backoff({"CROSSFORCE_PULL_BACKOFF": "0.1",
                         "CROSSFORCE_PULL_BACKOFF_CAP": "2"}) == (0.1, 2.0)
