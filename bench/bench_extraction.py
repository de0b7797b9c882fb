"""A large Cellebrite report loads with flat memory (issue #21): `node ingest` of a generated
UFDR whose report.xml is ~1 GB, against the same ingest of a report a third the size. The
parser keeps only the element it reads, the rows wait in a scratch file on disk (not in
the store's open transaction), language detection takes the bodies in parts, and DuckDB's
memory is capped during the load (CROSSFORCE_INGEST_MEMORY, default 256MB; the rest spills
to disk), so once both reports are past the cap the memory ratio stays near 1. The speed
is compared with a bare streaming parse of the same XML (what reading the models costs
over walking the XML).

    python -m bench.bench_extraction [--runs 3] [--mb 120] [--small-mb 40]
    python -m bench.bench_extraction --full     # the 1 GB report against a 300 MB one

Each load runs in its own process, so peak memory is that load's alone. Every round runs
the small load, the large load and the bare parse once, in that order, ``--runs`` rounds
(default 3), so a change in the machine's load falls on all three; the figures are the
medians, with every run's seconds and the load average beside them. The default sizes
(120 MB against 40 MB) keep three rounds within minutes on 2 cores; ``--full`` is the
issue #21 size (1 GB, a 300 MB small one), 10-20 minutes a round.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.harness import load_avg, report

_CALL = (
    '<model type="Call" id="c{i}" deleted_state="Intact">'
    '<field name="Direction" type="String"><value type="String">{d}</value></field>'
    '<field name="TimeStamp" type="TimeStamp"><value type="TimeStamp" format="DateTimeOnly" '
    'formattedTimestamp="2020-12-16T11:{m:02d}:14+01:00">2020-12-16T11:{m:02d}:14.000</value>'
    '</field><field name="Duration" type="TimeSpan"><value type="TimeSpan">00:01:{s:02d}'
    '</value></field><multiModelField name="Parties">'
    '<model type="Party" id="p{i}a"><field name="Identifier" type="String"><value '
    'type="String">07700 900{k:03d}</value></field><field name="Role" type="PartyRole"><value '
    'type="PartyRole">From</value></field></model>'
    '<model type="Party" id="p{i}b"><field name="Identifier" type="String"><value '
    'type="String">+447700900001</value></field><field name="IsPhoneOwner" type="Boolean">'
    '<value type="Boolean">True</value></field></model></multiModelField></model>')
_MESSAGE = (
    '<model type="InstantMessage" id="m{i}" deleted_state="Intact">'
    '<field name="TimeStamp" type="TimeStamp"><value type="TimeStamp">'
    '2020-11-03T20:{m:02d}:00.000</value></field>'
    '<field name="Body" type="String"><value type="String"><![CDATA[{body}]]></value></field>'
    '<field name="SourceApplication" type="String"><value type="String">WhatsApp</value>'
    '</field><modelField name="From"><model type="Party" id="f{i}"><field name="Identifier" '
    'type="String"><value type="String">447700900{k:03d}@s.whatsapp.net</value></field></model>'
    '</modelField></model>')


def write_report(path: Path, target_mb: int) -> int:
    """A UFDR whose report.xml is about ``target_mb`` MB; returns the models written."""
    header = ('<?xml version="1.0" encoding="utf-8"?><project id="b" extractionType="Logical" '
              'xmlns="http://pa.cellebrite.com/report/2.0"><metadata section="Device Info">'
              '<item name="DeviceInfoSelectedManufacturer">Samsung</item>'
              '<item name="MSISDN">+447700900001</item>'
              '<item name="DeviceInfoTimeZone">Europe/London</item></metadata><decodedData>')
    written = models = 0
    target = target_mb * 1_000_000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z, \
            z.open("report.xml", "w", force_zip64=True) as out:
        out.write(header.encode())
        for kind, template in (("Call", _CALL), ("InstantMessage", _MESSAGE)):
            out.write(f'<modelType type="{kind}">'.encode())
            chunk: list[str] = []
            while written < target * (0.5 if kind == "Call" else 1.0):
                i = models
                chunk.append(template.format(i=i, d=("Incoming", "Outgoing")[i % 2],
                                             m=i % 60, s=i % 60, k=i % 1000,
                                             body=f"message {i} " + "x" * (i % 80)))
                models += 1
                if len(chunk) == 2000:
                    data = "".join(chunk).encode()
                    out.write(data)
                    written += len(data)
                    chunk.clear()
            data = "".join(chunk).encode() + b"</modelType>"
            out.write(data)
            written += len(data)
        out.write(b"</decodedData></project>")
    return models


_INGEST = """
import json, resource, sys, time
from pathlib import Path
from federation.cli import main
node, path = sys.argv[1], sys.argv[2]
assert main(["node", "init", "--force", "bench", "--dir", node]) == 0
t0 = time.perf_counter()
code = main(["node", "ingest", "--dir", node, path])
print(json.dumps({"code": code, "s": time.perf_counter() - t0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
_BARE = """
import json, resource, sys, time, zipfile
from xml.etree.ElementTree import iterparse
t0 = time.perf_counter(); n = 0
with zipfile.ZipFile(sys.argv[1]) as z, z.open("report.xml") as f:
    for event, el in iterparse(f, events=("end",)):
        if el.tag.endswith("}model"):
            n += 1
        if el.tag.endswith("}model") and el.get("type") in ("Call", "InstantMessage"):
            el.clear()
print(json.dumps({"s": time.perf_counter() - t0, "elements": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=int, default=120, help="size of the large report.xml")
    ap.add_argument("--small-mb", type=int, default=40, help="size of the small one")
    ap.add_argument("--full", action="store_true",
                    help="the issue #21 sizes: a 1000 MB report against a 300 MB one")
    ap.add_argument("--runs", type=int, default=3, help="rounds; medians are quoted")
    args = ap.parse_args()
    if args.full:
        args.mb, args.small_mb = 1000, 300
    with tempfile.TemporaryDirectory() as tmp:
        figures: dict[str, float | int | str] = {}
        paths: dict[str, Path] = {}
        for label, mb in (("small", args.small_mb), ("large", args.mb)):
            paths[label] = Path(tmp) / f"{label}.ufdr"
            t0 = time.perf_counter()
            models = write_report(paths[label], mb)
            print(f"{label}: wrote {models:,} models ({mb} MB) in "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
            figures |= {f"{label}_report_mb": mb, f"{label}_models": models}
        loads = [load_avg()]
        runs: dict[str, list[dict]] = {"small": [], "large": [], "bare": []}
        for i in range(args.runs):
            for label in ("small", "large"):
                run = _run(_INGEST, str(Path(tmp) / f"node-{label}-{i}"), str(paths[label]))
                assert run["code"] == 0, run
                runs[label].append(run)
            runs["bare"].append(_run(_BARE, str(paths["large"])))
            loads.append(load_avg())
            print(f"round {i + 1}: " + ", ".join(
                f"{k} {v[-1]['s']:.1f} s {v[-1]['peak_mb']:.0f} MB" for k, v in runs.items())
                + f", load {loads[-1]:.1f}", file=sys.stderr)
        for label in ("small", "large"):
            figures |= {f"{label}_ingest_s": round(_median(runs[label], "s"), 1),
                        f"{label}_peak_mb": round(_median(runs[label], "peak_mb")),
                        f"{label}_runs_s": "/".join(f"{r['s']:.1f}" for r in runs[label])}
        figures |= {"bare_parse_s": round(_median(runs["bare"], "s"), 1),
                    "bare_parse_peak_mb": round(_median(runs["bare"], "peak_mb")),
                    "bare_runs_s": "/".join(f"{r['s']:.1f}" for r in runs["bare"]),
                    "runs": args.runs, "load_avg_1m": f"{min(loads):.1f}-{max(loads):.1f}"}
        ratio = _median(runs["large"], "peak_mb") / _median(runs["small"], "peak_mb")
        figures["ingest_s_over_bare_parse_s"] = round(
            _median(runs["large"], "s") / _median(runs["bare"], "s"), 2)
        report("bench_extraction", figures, ratio,
               f"median peak memory loading a {args.mb} MB report / a {args.small_mb} MB "
               "one, runs interleaved",
               target="memory flat (ratio near 1) for a 1 GB report")


if __name__ == "__main__":
    main()
