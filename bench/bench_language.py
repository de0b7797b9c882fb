"""Language detection over 1 million short messages, against the bare detector call; and
per-language precision and recall on a generated scenario.

Speed: 1 M short messages, nearly all distinct (a generated phrase in one of 14 languages
and scripts with a number, sometimes a name, after it, so little is saved by repetition),
detected
the way ingest does it: ``detect_messages`` on a DuckDB ``messages`` table (distinct
bodies out, one UPDATE back). The baseline is the bare fastText call (small lid.176 model,
top 5, newline removed) on the same 1 M bodies in the same run. A second figure detects
messages with the repetition of the generated phones (most bodies recur).

Quality: a generated scenario (bodies in the communities' languages, the true language in
truth/languages.csv); per language, precision = right / answered that language, recall =
right / truly that language (undetermined counts against recall only).

Speed figures are medians of ``--runs`` (default 3) runs, the baseline interleaved.
Target (issue 19): at least 10,000 messages/s on 2 cores. Run:
``.venv/bin/python bench/bench_language.py [--runs N]`` (≈ 3 min a run;
BENCH_LANGUAGE_N=100000 for a short run).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import RESULTS, interleaved, load_avg, report, runs_arg  # noqa: E402
from node.language.detection import predict  # noqa: E402
from node.language.settings import LanguageSettings  # noqa: E402
from node.language.store import detect_messages  # noqa: E402
from node.migrations import migrate  # noqa: E402
from scenario.phrases import PHRASES  # noqa: E402

N = int(os.environ.get("BENCH_LANGUAGE_N", 1_000_000))
ENGLISH = ("where r u", "call me when u can", "meet at the usual", "bring the car round",
           "running late", "on my way home", "dont tell anyone", "gr8 c u 2day",
           "collect at 9", "u coming?", "text me back", "new number save it")
NAMES = ("Adam", "Bilal", "Kasia", "Ionut", "Arben", "Rahim", "Sara", "Jay")


def distinct_bodies(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct bodies: a phrase of a random language, then a number or a name."""
    pools = [np.array(p, dtype=object) for p in (*PHRASES.values(), ENGLISH)]
    lang = rng.integers(len(pools), size=n)
    out = np.empty(n, dtype=object)
    for i, pool in enumerate(pools):
        sel = np.flatnonzero(lang == i)
        out[sel] = pool[rng.integers(len(pool), size=len(sel))]
    numbers = rng.integers(10, 100_000_000, n).tolist()
    names = np.where(rng.random(n) < 0.5, "",
                     np.array(NAMES)[rng.integers(len(NAMES), size=n)]).tolist()
    return [f"{b} {name} {num}" if name else f"{b} {num}"
            for b, name, num in zip(out.tolist(), names, numbers, strict=True)]


def messages_table(con: duckdb.DuckDBPyConnection, bodies: list[str]) -> None:
    """A node store's messages table holding ``bodies`` (one device)."""
    con.execute("DELETE FROM messages")
    n = len(bodies)
    con.register("incoming", pa.table({
        "message_id": pa.array([f"M{i}" for i in range(n)]),
        "body": pa.array(bodies, pa.string())}))
    con.execute("INSERT INTO messages (device_id, message_id, body, source_file) "
                "SELECT 'D1', message_id, body, 1 FROM incoming")
    con.unregister("incoming")


def speed(con: duckdb.DuckDBPyConnection, runs: int) -> dict[str, float]:
    """Medians of ``runs`` interleaved runs; each detection on a freshly written table."""
    rng = np.random.default_rng(19)
    bodies = distinct_bodies(rng, N)
    # the repetition of real phones: bodies drawn from the phrase pools themselves
    pools = [b for p in (*PHRASES.values(), ENGLISH) for b in p]
    repeated = [pools[i] for i in rng.integers(len(pools), size=N)]
    m = interleaved({
        "bare": lambda: [predict(" ".join(b.split())) for b in bodies],
        "fill": lambda: messages_table(con, bodies),
        "node": lambda: detect_messages(con, LanguageSettings()),
        "fill_repeated": lambda: messages_table(con, repeated),
        "repeated": lambda: detect_messages(con, LanguageSettings())}, runs)
    bare_s, bare_cpu = m["bare"].wall, m["bare"].cpu
    node_s, node_cpu, found = m["node"].wall, m["node"].cpu, m["node"].result
    repeated_s = m["repeated"].wall
    return {"messages": N, "distinct_bodies": len(set(bodies)), "runs": runs,
            "bare_runs_s": m["bare"].runs_text(), "node_runs_s": m["node"].runs_text(),
            "bare_fasttext_per_s": N / bare_s, "bare_fasttext_per_cpu_s": N / bare_cpu,
            "node_detect_per_s": N / node_s, "node_detect_per_cpu_s": N / node_cpu,
            "node_detect_s": node_s, "node_detect_cpu_s": node_cpu,
            "repeated_bodies_per_s": N / repeated_s,
            "undetermined_share": found.get("und", 0) / N,
            "load_avg_1m": load_avg()}


def quality(root: Path) -> tuple[dict[str, float], list[tuple[str, int, int, int, float, float]]]:
    """Per-language precision and recall of detection on a generated scenario."""
    from node.language.detection import Detector
    from scenario.generate import generate

    generate(root, forces=10, persons_per_force=6000, seed=19, progress=False)
    con = duckdb.connect()
    forces = [p for p in root.iterdir() if p.is_dir() and p.name != "truth"]
    files = [next(f.glob("messages.*")) for f in forces]
    parts = [f"SELECT device_id, message_id, body FROM "
             f"{'read_csv' if p.suffix == '.csv' else 'read_parquet'}('{p}')" for p in files]
    con.execute("CREATE TABLE m AS " + " UNION ALL ".join(parts))
    bodies = [r[0] for r in con.execute("SELECT DISTINCT body FROM m").fetchall()]
    found = Detector().detect_many(bodies)
    con.register("d", pa.table({"body": bodies, "got": [d.language for d in found]}))
    rows = con.execute(f"""
        WITH j AS (SELECT t.language AS truth, d.got FROM m JOIN d USING (body)
                   JOIN '{root / 'truth' / 'languages.csv'}' t USING (device_id, message_id)),
        langs AS (SELECT DISTINCT truth AS lang FROM j)
        SELECT lang, (SELECT count(*) FROM j WHERE truth = lang) AS n,
               (SELECT count(*) FROM j WHERE got = lang) AS answered,
               (SELECT count(*) FROM j WHERE got = lang AND truth = lang) AS right
        FROM langs ORDER BY n DESC""").fetchall()
    table = [(lang, n, a, r, r / a if a else float("nan"), r / n) for lang, n, a, r in rows]
    total = sum(t[1] for t in table)
    right = sum(t[3] for t in table)
    answered = con.execute("SELECT count(*) FROM m JOIN d USING (body) WHERE got <> 'und'"
                           ).fetchone()[0]
    non_en = [t for t in table if t[0] != "en"]
    figures = {"scored_messages": total, "overall_recall": right / total,
               "overall_precision": right / answered,
               "foreign_macro_precision": float(np.nanmean([t[4] for t in non_en])),
               "foreign_macro_recall": float(np.mean([t[5] for t in non_en]))}
    return figures, table


def main() -> None:
    runs = runs_arg()
    con = duckdb.connect()
    migrate(con)
    figures = speed(con, runs)
    with tempfile.TemporaryDirectory() as tmp:
        q, table = quality(Path(tmp) / "scenario")
    figures.update(q)
    report("bench_language", figures, figures["node_detect_per_s"]
           / figures["bare_fasttext_per_s"],
           "node detection (script, rules, model, into the store; both cores) msgs/s / bare "
           "fastText call msgs/s (one core), same distinct bodies, wall clock, medians, "
           "interleaved",
           "≥ 10,000 messages/s on 2 cores")
    lines = ["", "  per-language detection on the generated scenario (seed 19, 10 forces x "
             "6,000 persons):", "", "  | language | messages | answered | right | precision "
             "| recall |", "  |---|---|---|---|---|---|"]
    lines += [f"  | {lang} | {n:,} | {a:,} | {r:,} | {p:.3f} | {rec:.3f} |"
              for lang, n, a, r, p, rec in table]
    text = "\n".join(lines) + "\n"
    print(text)
    with RESULTS.open("a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
