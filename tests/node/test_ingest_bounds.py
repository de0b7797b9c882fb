"""Issue #20 item 5: input files that would take gigabytes of memory, or load half their
rows, are refused with one clear line, in bounded memory, loading nothing.

Limits are made small through the environment (as a force would set them), so the files
stay tens of megabytes: a 64 MB text node against a 1 MB limit stands for a 2 GiB one.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from node_data import PERSONS_CSV, SAMPLE_CALLS, SAMPLE_CONTACTS, SAMPLE_MESSAGES, ufdr_xml

MB = 1 << 20


def _ufdr(path: Path, text_bytes: int, where: str = "decodedData") -> Path:
    """A UFDR whose report.xml holds one text node of ``text_bytes`` bytes, written in
    chunks (the test never holds it in memory)."""
    xml = ufdr_xml(SAMPLE_CALLS, SAMPLE_MESSAGES, SAMPLE_CONTACTS)
    head, tail = xml.split(f"<{where}>", 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("report.xml", "w", force_zip64=True) as f:
        f.write(f"{head}<{where}><blob>".encode())
        chunk = b"A" * MB
        for _ in range(text_bytes // MB):
            f.write(chunk)
        f.write(f"</blob>{tail}".encode())
    return path


def _run(node: Path, path: Path, env: dict[str, str]) -> tuple[int, str, int]:
    """`crossforce node ingest` in its own process: (exit code, output, the child's own
    peak RSS in MB, from wait4)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from federation.cli import main; "
         "sys.exit(main(sys.argv[1:]))", "node", "ingest", "--dir", str(node), str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, (out + err).decode(), usage.ru_maxrss // 1024


@pytest.fixture
def baseline_mb(node: Path, make_ufdr) -> int:  # noqa: ANN001
    """Peak RSS of loading a small UFDR: the interpreter, DuckDB and Arrow themselves."""
    code, text, peak = _run(node, make_ufdr("SMALL.ufdr"), {})
    assert code == 0, text
    return peak


def test_a_huge_text_node_in_a_ufdr_is_refused_in_bounded_memory(
        node: Path, tmp_path: Path, baseline_mb: int, status) -> None:  # noqa: ANN001
    before = status(node)["tables"]
    path = _ufdr(tmp_path / "ufdr" / "EXH-9.ufdr", 64 * MB)
    code, text, peak = _run(node, path, {"CROSSFORCE_UFDR_MAX_TEXT_BYTES": str(MB),
                                         "CROSSFORCE_UFDR_MAX_RATIO": "1000000"})
    assert code == 2, text
    assert "Traceback" not in text
    assert "holds a text node or attribute of more than 1,048,576 bytes" in text
    assert str(path) in text
    assert peak < baseline_mb + 48, (peak, baseline_mb)
    assert status(node)["tables"] == before


def test_a_ufdr_that_expands_too_far_is_refused_from_its_directory(
        node: Path, tmp_path: Path, status) -> None:  # noqa: ANN001
    """A 80 MB report in a ZIP of a few hundred KB: a ZIP bomb, refused unread."""
    before = status(node)["tables"]
    path = _ufdr(tmp_path / "ufdr" / "EXH-8.ufdr", 80 * MB)
    assert path.stat().st_size < 2 * MB
    code, text, _peak = _run(node, path, {})
    assert code == 2, text
    assert "Traceback" not in text and "report.xml expands" in text and "ZIP bomb" in text
    assert status(node)["tables"] == before


def test_a_ufdr_report_over_the_size_limit_is_refused(cli, node: Path, tmp_path: Path,
                                                      monkeypatch, status) -> None:  # noqa: ANN001
    before = status(node)["tables"]
    path = _ufdr(tmp_path / "ufdr" / "EXH-7.ufdr", 2 * MB)
    monkeypatch.setenv("CROSSFORCE_UFDR_MAX_REPORT_BYTES", str(MB))
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2, r
    assert "report.xml would expand to" in r.out + r.err
    assert status(node)["tables"] == before


def test_a_csv_header_line_over_the_limit_is_refused_in_one_line(
        cli, node: Path, write, monkeypatch, status) -> None:  # noqa: ANN001
    before = status(node)["tables"]
    monkeypatch.setenv("CROSSFORCE_CSV_MAX_LINE_BYTES", str(MB))
    path = write("persons.csv", b"person_id," + b"x" * (3 * MB) + b"\nP1,1\n")
    r = cli("node", "ingest", "--dir", node, path)
    text = r.out + r.err
    assert r.code == 2, r
    assert "line 1: the header line is longer than 1,048,576 bytes" in text
    assert len(text) < 2000  # one line, not the 3 MB header echoed back
    assert status(node)["tables"] == before


def test_a_csv_row_over_the_limit_is_not_loaded(cli, node: Path, write, monkeypatch,
                                                status) -> None:  # noqa: ANN001
    monkeypatch.setenv("CROSSFORCE_CSV_MAX_LINE_BYTES", str(MB))
    long_row = b"P9,Long," + b"y" * (2 * MB) + b",,,false,M,GBR\n"
    path = write("persons.csv", PERSONS_CSV.encode() + long_row)
    r = cli("node", "ingest", "--dir", node, path)
    text = r.out + r.err
    assert r.code == 2, r
    assert len(text) < 4000
    assert "line 5: Maximum line size of 1048576 bytes exceeded" in text
    assert status(node)["tables"]["persons"] == 0


@pytest.mark.parametrize("cut", [
    b'[{"person_id": "P1", "given_names": "A", "family_name": "B"},\n'
    b' {"person_id": "P2", "given_names": "C", "family_name": "D"}',
    b'[{"person_id": "P1", "given_names": "A", "family_name": "B"},\n'
    b' {"person_id": "P2", "given_names": "C", "family_name": "D"},\n',
])
def test_a_json_array_cut_at_a_record_boundary_is_refused(cli, node: Path, write, cut: bytes,
                                                          status) -> None:  # noqa: ANN001
    path = write("persons.json", cut)
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2, r
    assert f"{path}: truncated JSON: the array does not end with ']'" in r.out + r.err
    assert status(node)["tables"]["persons"] == 0


def test_a_whole_json_array_still_loads(cli, node: Path, write, status) -> None:  # noqa: ANN001
    path = write("persons.json",
                 b'[{"person_id": "P1", "given_names": "A", "family_name": "B"}]\n\n')
    assert cli("node", "ingest", "--dir", node, path).code == 0
    assert status(node)["tables"]["persons"] == 1


def test_a_huge_cdata_section_hiding_tags_is_refused(cli, node: Path, tmp_path: Path,
                                                     monkeypatch, status) -> None:  # noqa: ANN001
    """A CDATA section may hold '<': the parser still holds it whole, so it is bounded
    the same way (no parse event for longer than the limit)."""
    xml = ufdr_xml(SAMPLE_CALLS, SAMPLE_MESSAGES, SAMPLE_CONTACTS)
    head, tail = xml.split("<decodedData>", 1)
    path = tmp_path / "ufdr" / "EXH-6.ufdr"
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, \
            z.open("report.xml", "w") as f:
        f.write(f"{head}<decodedData><blob><![CDATA[".encode())
        for _ in range(4 * 1024):
            f.write(b"<b>" + b"z" * 1021)
        f.write(f"]]></blob>{tail}".encode())
    before = status(node)["tables"]
    monkeypatch.setenv("CROSSFORCE_UFDR_MAX_TEXT_BYTES", str(MB))
    r = cli("node", "ingest", "--dir", node, path)
    assert r.code == 2, r
    assert "holds a text node, CDATA section or tag of more than 1,048,576 bytes" in (
        r.out + r.err)
    assert status(node)["tables"] == before
