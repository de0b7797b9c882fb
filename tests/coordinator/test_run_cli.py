"""`crossforce coordinator run`: what it refuses before starting anything. A real round
(forces joining with `node serve` + `node join`) is in tests/demo/test_demo_joined_round.py."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def coordinator(cli, tmp_path: Path) -> Path:  # noqa: ANN001
    directory = tmp_path / "coordinator"
    assert cli("coordinator", "init", "--dir", directory).code == 0
    return directory


@pytest.mark.parametrize("args, message", [
    (["--engine", "simulation"], "only 'deployment'"),
    (["--register", "lancashire"], "write FORCE=PATH/TO/KEY.pub"),
    (["--register", "lancashire=/no/such/key.pub"], "no such key file"),
    (["--certfile", "/etc/hostname"], "all three of --certfile"),
])
def test_bad_arguments_are_refused_before_anything_starts(cli, coordinator: Path,  # noqa: ANN001
                                                          args: list[str],
                                                          message: str) -> None:
    result = cli("coordinator", "run", "--dir", coordinator, "--purpose", "TOEX-CSE", *args)
    assert result.code == 2
    assert message in result.err
    assert not (coordinator / "flower").exists()


def test_a_key_that_is_not_a_supernode_key_is_refused(cli, coordinator: Path,  # noqa: ANN001
                                                      tmp_path: Path) -> None:
    wrong = tmp_path / "north.pub"
    wrong.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy north\n")
    result = cli("coordinator", "run", "--dir", coordinator, "--purpose", "TOEX-CSE",
                 "--register", f"north={wrong}")
    assert result.code == 2
    assert "not an ECDSA P-384 public key" in result.err


def test_a_folder_without_a_coordinator_is_refused(cli, tmp_path: Path) -> None:  # noqa: ANN001
    result = cli("coordinator", "run", "--dir", tmp_path, "--purpose", "TOEX-CSE")
    assert result.code == 2
    assert "coordinator init" in result.err
