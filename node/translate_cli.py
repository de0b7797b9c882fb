"""`crossforce node translate` and `crossforce node models import | list`: foreign-language
messages translated on the node, offline, by a backend the force chooses and audits."""

from __future__ import annotations

import json
from pathlib import Path

import typer

DirOption = typer.Option(..., "--dir", help="The node's folder.", file_okay=False)
JsonOption = typer.Option(False, "--json", help="Print as JSON.")

models_app = typer.Typer(
    help="Translation models the force has imported (none ships with crossforce).",
    no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `translate` and the `models` group to the `node` group."""
    app.command()(translate)
    app.add_typer(models_app, name="models")


def translate(
    dir: Path = DirOption,  # noqa: A002
    device: list[str] = typer.Option([], "--device", help="A seized device (repeatable)."),
    person: list[str] = typer.Option([], "--person", help="A person: all devices attributed "
                                     "to any of the person's records (repeatable)."),
    case: list[str] = typer.Option([], "--case", help="A case (crime id or reference): the "
                                   "devices of everyone with a role in it (repeatable)."),
    backend: str = typer.Option("none", "--backend", help="none: queue messages for a "
                                "translator, per language; ctranslate2: the force's imported "
                                "models; glossary: the force's own words, word by word."),
    model: str = typer.Option(None, "--model", help="With ctranslate2: only this imported "
                              "model (default: each language's model)."),
    glossary: Path = typer.Option(None, "--glossary", help="With glossary: the TOML file of "
                                  "the force's words: a table per language tag, e.g. "
                                  "ur-Latn, holding paise = \"money\".",
                                  dir_okay=False),
    batch_size: int = typer.Option(32, "--batch-size", min=1, max=4096, help="Messages per "
                                   "batch (each batch is saved as it finishes)."),
    max_input_tokens: int = typer.Option(256, "--max-input-tokens", min=8, max=4096,
                                         help="Longest input a model reads, in SentencePiece "
                                         "pieces; a longer body is cut and marked truncated."),
    as_json: bool = JsonOption,
) -> None:
    """Translate (or queue for a translator) the messages whose language the force's
    analysts do not read (the readable list of node.toml's language table, default
    English). Nothing leaves
    the node and nothing is downloaded. The original is always kept; every translation
    records its backend, model id and hash and is labelled machine translation, not
    evidence. Runs in batches and resumes where an interrupted run stopped. Logged in the
    ledger (alteration: counts per language and model, never content)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from federation.keys import NodeKeys
    from node.analyses._cases import subjects_with_cases
    from node.egress import actor
    from node.language.run import translate as run_translate
    from node.language.settings import language_settings
    from node.language.translate import open_backend
    from node.store import open_store

    console = Console(stderr=True)
    with open_store(dir) as (config, con):
        settings = language_settings(dir)
        chosen = device or person or case
        devices = sorted({d for ds in subjects_with_cases(con, device, person, case).values()
                          for d in ds}) if chosen else None
        scope = ", ".join([*(f"device {d}" for d in device), *(f"person {p}" for p in person),
                           *(f"case {c}" for c in case)]) or "all devices"
        engine = open_backend(backend, dir, model, glossary, max_input_tokens)
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=console,
                      transient=not console.is_terminal) as bar:
            def progress(total: int):  # noqa: ANN202
                task = bar.add_task(f"{backend}: messages", total=total)
                return lambda n: bar.advance(task, n)

            report = run_translate(con, config.force, NodeKeys.load(config.keys_dir).signer,
                                   actor(), engine, settings, devices, scope, batch_size,
                                   progress)
    if as_json:
        typer.echo(json.dumps(report.__dict__, indent=2))
        return
    _print_report(report)


def _print_report(report) -> None:  # noqa: ANN001
    from rich.console import Console
    from rich.table import Table

    console = Console(width=min(Console().width, 100))
    if report.detected:
        console.print("languages detected now (messages loaded before detection): "
                      + ", ".join(f"{n} {k}" for k, n in report.detected.items()))
    table = Table("language", "model", "messages")
    for key, n in sorted(report.done.items()):
        lang, model = key.split(" ", 1)
        table.add_row(lang, model, f"{n:,}")
    for lang, n in sorted(report.no_model.items()):
        table.add_row(lang, "no model: still needs a translator", f"{n:,}")
    console.print(f"run {report.run_id or '-'}, backend {report.backend}: {report.scope}")
    if table.rows:
        console.print(table)
    done = sum(report.done.values())
    verb = {"none": "queued for a translator", "glossary": "looked up in the glossary"
            }.get(report.backend, "translated")
    cut = (f"; {report.truncated:,} cut to the model's input length"
           if report.backend == "ctranslate2" else "")
    console.print(f"{done:,} messages {verb} now; {report.already:,} done by earlier "
                  f"runs{cut}")
    if report.backend != "none" and done:
        what = ("Word-by-word glossary, not a translation" if report.backend == "glossary"
                else "Machine translation")
        console.print(f"[dim]{what}, not evidence: the original stays beside it (crossforce "
                      "node analyse timeline --show-text).[/]")


@models_app.command("import")
def import_(
    path: Path = typer.Argument(..., help="An Argos Translate .argosmodel file, or a "
                                "CTranslate2 model folder with its SentencePiece model(s)."),
    manifest: Path = typer.Option(..., "--manifest", help="TOML file of the force's approved "
                                  "models ([[model]] id, sha256, source, target).",
                                  dir_okay=False),
    dir: Path = DirOption,  # noqa: A002
    as_json: bool = JsonOption,
) -> None:
    """Import a translation model after checking its SHA-256 against the force's manifest
    of approved models; it is kept in DIR/models/<id>/. No model ships with crossforce and
    nothing is downloaded: the force brings the file."""
    from node.language.models import import_model
    from node.store import load_config

    load_config(dir)
    info, new = import_model(dir, path, manifest)
    if as_json:
        typer.echo(json.dumps({"imported": new, **info.__dict__}, indent=2))
        return
    what = "imported" if new else "already imported"
    typer.echo(f"{what} model {info.id} ({', '.join(info.source)} → {info.target}), "
               f"sha256 {info.sha256[:16]}… matches {manifest.name}")


@models_app.command("list")
def list_(
    dir: Path = DirOption,  # noqa: A002
    verify: bool = typer.Option(False, "--verify", help="Re-hash each model's files and say "
                                "whether they are still those imported."),
    as_json: bool = JsonOption,
) -> None:
    """The models this node has imported: languages, manifest hash, when imported."""
    from rich.console import Console
    from rich.table import Table

    from node.language.models import intact, list_models
    from node.store import load_config

    load_config(dir)
    models = list_models(dir)
    checks = {m.id: intact(dir, m) for m in models} if verify else {}
    if as_json:
        typer.echo(json.dumps([{**m.__dict__, **({"intact": checks[m.id]} if verify else {})}
                               for m in models], indent=2))
        return
    console = Console(width=min(Console().width, 100))
    if not models:
        console.print("no translation model imported (none ships with crossforce); import "
                      "one with: crossforce node models import PATH --manifest FILE --dir DIR")
        return
    table = Table("id", "source", "target", "sha256", "imported", *(["files"] if verify
                                                                    else []))
    for m in models:
        table.add_row(m.id, ", ".join(m.source), m.target, m.sha256[:12], m.imported_at[:10],
                      *((["intact" if checks[m.id] else "CHANGED"]) if verify else []))
    console.print(table)
