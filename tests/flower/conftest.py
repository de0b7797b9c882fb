"""Fixtures: forces with real node gateways on loopback, wired to the real relay."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flower_services import EAST_SHARED, NORTH_ONLY, SHARED, SOUTH_ONLY, Forces, TokenNode


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at teardown, so a node held 'slow' by a test is let go."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def forces(tmp_path: Path) -> Iterator[Forces]:
    nodes = {
        "north": TokenNode("north", [SHARED, NORTH_ONLY]),
        "south": TokenNode("south", [SHARED, SOUTH_ONLY, EAST_SHARED]),
        "east": TokenNode("east", [EAST_SHARED]),
    }
    started = Forces(tmp_path, nodes).start()
    yield started
    started.close()
