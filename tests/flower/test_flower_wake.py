"""The SuperNode wakes its force's relay executor through a named pipe, and the SuperLink's
state lives in memory or in Flower's SQLite file as the deployment needs (issue #12: the
executor's 0.1 s polling and the SQLite state were most of Flower's CPU in a round).
These tests pin the decisions on real pipes and folders, not timings."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from federation.flower import containment
from federation.flower.deployment import superlink_state
from federation.flower.supernode import ShortWaits, noting_messages
from federation.flower.wake import WAKE_ENV, WAKE_FILE, Wake, wake_executor


def test_a_woken_executor_asks_at_once_and_one_wake_up_counts_once(tmp_path: Path) -> None:
    pipe = tmp_path / WAKE_FILE
    wake = Wake.listen(pipe)
    assert wake is not None
    try:
        assert stat.S_ISFIFO(pipe.stat().st_mode) and stat.S_IMODE(pipe.stat().st_mode) == 0o600
        assert wake.wait(0.01) is False  # nobody woke it: the interval passes
        assert wake_executor(pipe) and wake_executor(pipe)  # two messages, close together
        assert wake.wait(30) is True  # returns as soon as woken, long before 30 s
        assert wake.wait(0.01) is False  # both bytes were drained: no busy loop after
    finally:
        wake.close()


def test_a_supernode_without_a_listening_executor_carries_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WAKE_ENV, raising=False)
    assert wake_executor() is False  # not started by a relay: no pipe named
    assert wake_executor(tmp_path / "no-such-pipe") is False
    os.mkfifo(tmp_path / WAKE_FILE, 0o600)
    assert wake_executor(tmp_path / WAKE_FILE) is False  # a pipe nobody reads: no block
    plain = tmp_path / "not-a-pipe"
    plain.write_text("notes\n")
    assert wake_executor(plain) is False
    assert plain.read_text() == "notes\n"  # never written into
    assert Wake.listen(plain) is None  # and never read as one: the executor just polls
    assert Wake.listen(None) is None


def test_the_supernode_wakes_the_executor_only_for_a_message() -> None:
    woken: list[bool] = []
    pull = noting_messages(iter([None, 7]).__next__, ShortWaits(poll=0.5, busy_poll=0.1),
                           wake=lambda: woken.append(True))
    assert pull() is None and woken == []  # no message: nothing to take
    assert pull() == 7 and woken == [True]


def test_supernode_and_executor_share_the_pipe_in_the_relay_folder(tmp_path: Path) -> None:
    env = containment.relay_environment(tmp_path / "relay", base={})
    assert env[WAKE_ENV] == str(tmp_path / "relay" / WAKE_FILE)


def test_where_the_superlink_keeps_its_state(tmp_path: Path) -> None:
    # its own SuperNodes register fresh keys at every start: nothing worth a file
    assert superlink_state(None, tmp_path, local_nodes=True) is None
    # forces joining from elsewhere (`coordinator run`): registered keys stay registered
    assert superlink_state(None, tmp_path, local_nodes=False) == tmp_path / "superlink.db"
    assert superlink_state("memory", tmp_path, local_nodes=False) is None
    assert superlink_state(tmp_path / "x.db", tmp_path, local_nodes=True) == tmp_path / "x.db"
