"""Same seed, same bytes — whether forces run inline or in a worker pool."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scenario import generate as gen_module
from scenario.generate import generate


def digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path: Path):
    a = generate(tmp_path / "a", forces=3, persons_per_force=400, seed=5, progress=False)
    generate(tmp_path / "b", forces=3, persons_per_force=400, seed=5, progress=False)
    da, db = digests(tmp_path / "a"), digests(tmp_path / "b")
    # + truth: persons, cases, languages, handovers, network members, networks, counts,
    # scenario
    assert len(da) == 3 * 12 + 8
    assert da == db
    assert a.forces == ["west-yorkshire", "greater-manchester", "lancashire"]


def test_another_seed_gives_different_files(tmp_path: Path):
    generate(tmp_path / "a", forces=2, persons_per_force=300, seed=5, progress=False)
    generate(tmp_path / "b", forces=2, persons_per_force=300, seed=6, progress=False)
    da, db = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert da.keys() == db.keys()
    changed = [k for k in da if da[k] != db[k] and not k.endswith("counts.json")]
    assert len(changed) >= len(da) - 3


def test_worker_pool_writes_the_same_bytes_as_one_process(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    generate(tmp_path / "inline", forces=3, persons_per_force=300, seed=9, progress=False,
             workers=1)
    monkeypatch.setattr(gen_module, "INLINE_LIMIT", 0)  # force the 2-process pool
    generate(tmp_path / "pool", forces=3, persons_per_force=300, seed=9, progress=False,
             workers=2)
    assert digests(tmp_path / "inline") == digests(tmp_path / "pool")


def test_same_seed_with_dirty_dobs_gives_byte_identical_files(tmp_path: Path):
    for name in ("a", "b"):
        generate(tmp_path / name, forces=2, persons_per_force=400, seed=8, progress=False,
                 duplicates=0.3, dirty_dobs=0.05)
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
