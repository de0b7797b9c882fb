"""One ``node translate`` run: detect what is missing, then translate (or queue) in batches.

Each batch is its own transaction, so a run stopped half-way keeps what it did and the
next run with the same backend and model carries on from there (a message already done by
that model is never redone). The run is one ledger entry (alteration) with counts per
language and model, never content — written when the run ends, or, if the process was
killed, by the next run (``translation_runs.logged``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import duckdb

from node.language.settings import LanguageSettings
from node.language.store import detect_messages
from node.language.translate import Backend, Translator

#: called after each batch with the number of messages it held
Progress = Callable[[int], None]


@dataclass
class RunReport:
    run_id: int
    backend: str
    scope: str
    detected: dict[str, int] = field(default_factory=dict)   # language → detected now
    done: dict[str, int] = field(default_factory=dict)       # "lang model" → written
    already: int = 0                                          # done by an earlier run
    no_model: dict[str, int] = field(default_factory=dict)   # language → left untranslated
    truncated: int = 0
    pending: int = 0                                          # messages to write this run


def _scope_sql(devices: Sequence[str] | None) -> str:
    return "true" if devices is None else "list_contains($devices, device_id)"


def plan(con: duckdb.DuckDBPyConnection, backend: Backend, settings: LanguageSettings,
         devices: Sequence[str] | None) -> tuple[list[tuple[str, Translator, int]],
                                                  dict[str, int], dict[str, int], int]:
    """(per language: its translator and messages left to do; messages per language with no
    model; detected now; messages already done by the same model)."""
    params = {"devices": list(devices)} if devices is not None else {}
    scope = _scope_sql(devices)
    detected = detect_messages(con, settings, scope, params)
    languages = [r[0] for r in con.execute(
        f"SELECT DISTINCT language FROM messages WHERE {scope} AND body IS NOT NULL "
        "ORDER BY 1", params).fetchall() if settings.needs_translator(r[0])]
    work, no_model, already = [], {}, 0
    for lang in languages:
        tr = backend.for_language(lang)
        total = _count(con, scope, params, lang)
        if tr is None:
            no_model[lang] = total
            continue
        left = _count(con, scope, params, lang, tr)
        already += total - left
        if left:
            work.append((lang, tr, left))
    return work, no_model, detected, already


def _todo_sql(scope: str, with_model: bool) -> str:
    done = """AND NOT EXISTS (SELECT 1 FROM translations t
                  WHERE t.device_id = m.device_id AND t.message_id = m.message_id
                    AND t.body_md5 = md5(m.body) AND t.backend = $backend
                    AND t.model_id = $model)""" if with_model else ""
    return f"""FROM messages m WHERE {scope} AND m.language = $lang
               AND m.body IS NOT NULL {done}"""


def _count(con: duckdb.DuckDBPyConnection, scope: str, params: dict, lang: str,
           tr: Translator | None = None) -> int:
    p = {**params, "lang": lang}
    if tr is not None:
        p.update(backend=tr.backend, model=tr.model_id)
    return int(con.execute(f"SELECT count(*) {_todo_sql(scope, tr is not None)}", p
                           ).fetchone()[0])


def run(con: duckdb.DuckDBPyConnection, report: RunReport,
        work: list[tuple[str, Translator, int]], devices: Sequence[str] | None,
        batch_size: int, progress: Progress | None = None) -> RunReport:
    """Translate every pending message, ``batch_size`` at a time, one transaction each."""
    scope = _scope_sql(devices)
    base = {"devices": list(devices)} if devices is not None else {}
    for lang, tr, _ in work:
        params = {**base, "lang": lang, "backend": tr.backend, "model": tr.model_id}
        rows = con.execute(f"SELECT m.device_id, m.message_id, m.body, md5(m.body) "
                           f"{_todo_sql(scope, True)} ORDER BY m.device_id, m.message_id",
                           params).fetchall()
        for i in range(0, len(rows), batch_size):
            batch = rows[i:i + batch_size]
            outputs = tr.translate([r[2] for r in batch])
            con.execute("BEGIN")
            try:
                con.executemany(
                    "INSERT INTO translations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                    "now()::TIMESTAMP)",
                    [[r[0], r[1], r[3], lang, tr.status, o.text, o.input, o.truncated,
                      tr.backend, tr.model_id, tr.model_sha256, tr.label, report.run_id]
                     for r, o in zip(batch, outputs, strict=True)])
                con.execute("UPDATE translation_runs SET messages = messages + ? "
                            "WHERE run_id = ?", [len(batch), report.run_id])
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            key = f"{lang} {tr.model_id}"
            report.done[key] = report.done.get(key, 0) + len(batch)
            report.truncated += sum(o.truncated for o in outputs)
            if progress:
                progress(len(batch))
    return report


def start_run(con: duckdb.DuckDBPyConnection, backend: str, model_id: str,
              model_sha256: str | None, scope: str) -> int:
    run_id = int(con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM translation_runs"
                             ).fetchone()[0])
    con.execute("INSERT INTO translation_runs VALUES (?, now()::TIMESTAMP, NULL, ?, ?, ?, ?, "
                "0, false)", [run_id, backend, model_id, model_sha256, scope])
    return run_id


def unlogged(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str, str, dict[str, int]]]:
    """Runs without their ledger entry: (run_id, backend, model, scope, counts per
    'language model' and status), to be logged now."""
    out = []
    for run_id, backend, model, scope in con.execute(
            "SELECT run_id, backend, model_id, scope FROM translation_runs WHERE NOT logged "
            "ORDER BY run_id").fetchall():
        counts = {f"{lang} {m} {status}": int(n) for lang, m, status, n in con.execute(
            "SELECT language, model_id, status, count(*) FROM translations WHERE run_id = ? "
            "GROUP BY ALL ORDER BY ALL", [run_id]).fetchall()}
        counts["truncated"] = int(con.execute(
            "SELECT count(*) FROM translations WHERE run_id = ? AND truncated", [run_id]
        ).fetchone()[0])
        out.append((run_id, backend, model, scope, counts))
    return out


def translate(con: duckdb.DuckDBPyConnection, force: str, signer: object, actor: str,
              backend: Backend, settings: LanguageSettings, devices: Sequence[str] | None,
              scope: str, batch_size: int = 32,
              progress: Callable[[int], Progress] | None = None) -> RunReport:
    """The whole of ``node translate`` on an open store: log runs an earlier process left
    unlogged, detect what has no language yet (its own alteration entry), then translate
    or queue in batches; the run's entry is written however the run ends. ``progress`` is
    given the number of messages to do and returns the per-batch callback."""
    from federation.ledger import Ledger

    ledger = Ledger(con, signer, force)  # type: ignore[arg-type]
    _log_runs(con, ledger, actor, force)
    con.execute("BEGIN")
    try:
        work, no_model, detected, already = plan(con, backend, settings, devices)
        if detected:
            ledger.append("alteration", actor=actor, purpose="language-detection",
                          justification="node translate detected the languages of messages "
                          "loaded before detection existed", counts=detected, force=force)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report = RunReport(0, backend.name, scope, detected=detected, already=already,
                       no_model=no_model, pending=sum(n for _, _, n in work))
    if not work:
        return report
    models = sorted({tr.model_id for _, tr, _ in work})
    hashes = sorted({tr.model_sha256 for _, tr, _ in work if tr.model_sha256})
    report.run_id = start_run(con, backend.name, ",".join(models),
                              ",".join(hashes) or None, scope)
    try:
        run(con, report, work, devices, batch_size,
            progress(report.pending) if progress else None)
    finally:
        _log_runs(con, ledger, actor, force)
    return report


def _log_runs(con: duckdb.DuckDBPyConnection, ledger: object, actor: str, force: str
              ) -> None:
    """The ledger entry (alteration) of every run not yet logged, with its end time."""
    for run_id, backend, model, scope, counts in unlogged(con):
        con.execute("BEGIN")
        try:
            con.execute("UPDATE translation_runs SET logged = true, finished_at = "
                        "coalesce(finished_at, now()::TIMESTAMP) WHERE run_id = ?", [run_id])
            ledger.append("alteration", actor=actor, purpose="translation",  # type: ignore[attr-defined]
                          justification=f"node translate run {run_id}: backend {backend}, "
                          f"model {model}, {scope} (machine translation, not evidence)",
                          counts=counts, force=force)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
