"""Translation models a force imports: checked against its manifest, kept in DIR/models/.

No model ships with crossforce and none is fetched at run time. A force obtains a model
(an Argos Translate ``.argosmodel`` package, or an OPUS-MT model converted to a
CTranslate2 folder) through its own approval route, lists it in a manifest with its
SHA-256, and imports it; the import refuses a file whose hash the manifest does not list.

Manifest (TOML)::

    [[model]]
    id = "opus-mt-ur-en"            # the name translations record
    sha256 = "9f2c..."              # of the .argosmodel file, or of the folder (below)
    source = ["ur"]                 # languages it reads (BCP-47 tags)
    target = "en"
    licence = "CC-BY-4.0"           # optional
    description = "OPUS-MT Urdu to English, CTranslate2 int8"   # optional

A folder's SHA-256 is that of the lines ``<relative path> <file sha256>``, one per file in
path order (``sha256_path``), so a copied folder keeps its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import tomllib
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from federation.errors import CrossforceError
from node.ingest import sha256_file

MODELS_DIR = "models"
INFO_FILE = "crossforce-model.json"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")
#: SentencePiece files, as OPUS-MT conversions (source/target) and Argos (shared) name them
SPM_PAIRS = (("source.spm", "target.spm"), ("sentencepiece.model", "sentencepiece.model"))


@dataclass(frozen=True)
class ModelInfo:
    """An imported model: what the manifest said, and where its files are."""

    id: str
    sha256: str
    source: tuple[str, ...]
    target: str
    ct2_dir: str            # relative to the model's folder: holds model.bin
    spm_source: str         # relative to the model's folder
    spm_target: str
    imported_at: str
    file: str               # the name it was imported from
    files_sha256: str       # of the imported folder (sha256_path), to check it later
    licence: str = ""
    description: str = ""

    def folder(self, node_dir: Path) -> Path:
        return Path(node_dir) / MODELS_DIR / self.id


def sha256_path(path: Path, exclude: str | None = None) -> str:
    """SHA-256 of a file's bytes, or of a folder's ``<relative path> <file sha256>`` lines
    (leaving out a top-level file named ``exclude``)."""
    if path.is_file():
        return sha256_file(path)
    lines = [f"{p.relative_to(path).as_posix()} {sha256_file(p)}\n"
             for p in sorted(path.rglob("*"))
             if p.is_file() and p.relative_to(path).as_posix() != exclude]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def read_manifest(path: Path) -> list[dict]:
    """The manifest's ``[[model]]`` entries, checked; a one-line error naming what to fix."""
    if not path.is_file():
        raise CrossforceError(f"--manifest {path}: no such file")
    try:
        entries = tomllib.loads(path.read_text()).get("model", [])
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CrossforceError(f"{path}: not valid TOML ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise CrossforceError(f"{path}: no [[model]] entries (each needs id, sha256, source, "
                              "target)")
    for i, e in enumerate(entries, 1):
        where = f"{path}: model {i}"
        missing = [k for k in ("id", "sha256", "source", "target") if k not in e]
        if missing:
            raise CrossforceError(f"{where} has no {missing[0]}")
        if not isinstance(e["id"], str) or not _ID.match(e["id"]):
            raise CrossforceError(f"{where}: id {e['id']!r} must be letters, digits, '.', "
                                  "'_' or '-'")
        if not isinstance(e["sha256"], str) or not _HEX.match(e["sha256"].lower()):
            raise CrossforceError(f"{where}: sha256 must be 64 hex digits")
        if not isinstance(e["source"], list) or not e["source"]:
            raise CrossforceError(f'{where}: source must list languages, e.g. ["ur"]')
    return entries


def import_model(node_dir: Path, path: Path, manifest: Path) -> tuple[ModelInfo, bool]:
    """Check ``path`` against the manifest and keep it in DIR/models/<id>/; returns the
    model and whether it was new (False: the same model was imported before)."""
    if not path.exists():
        raise CrossforceError(f"{path}: no such file or folder")
    entries = read_manifest(manifest)
    digest = sha256_path(path)
    entry = next((e for e in entries if e["sha256"].lower() == digest), None)
    if entry is None:
        raise CrossforceError(f"{path}: its SHA-256 is {digest}, which {manifest} does not "
                              "list; import only a model the manifest names (check the file "
                              "or add its approved entry)")
    target = Path(node_dir) / MODELS_DIR / entry["id"]
    if target.exists():
        known = load_model(node_dir, entry["id"])
        if known.sha256 == digest:
            return known, False
        raise CrossforceError(f"model {entry['id']!r} is already imported with another hash "
                              f"({known.sha256[:12]}); give the new model another id")
    staging = target.with_name(f".{entry['id']}.importing")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if path.is_dir():
            shutil.copytree(path, staging)
        else:
            _extract(path, staging)
        info = _describe(staging, entry, digest, path.name)
        (staging / INFO_FILE).write_text(json.dumps(asdict(info), indent=2) + "\n")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return info, True


def _extract(path: Path, into: Path) -> None:
    """Unzip an .argosmodel (a zip) safely: no member may leave ``into``."""
    if not zipfile.is_zipfile(path):
        raise CrossforceError(f"{path}: neither a model folder nor an .argosmodel (zip) file")
    into.mkdir(parents=True)
    with zipfile.ZipFile(path) as z:
        for member in z.infolist():
            dest = (into / member.filename).resolve()
            if not dest.is_relative_to(into.resolve()):
                raise CrossforceError(f"{path}: member {member.filename!r} would be written "
                                      "outside the model folder; refusing this file")
        z.extractall(into)


def _describe(folder: Path, entry: dict, digest: str, name: str) -> ModelInfo:
    """Find the CTranslate2 folder (holding model.bin) and its SentencePiece models."""
    bins = sorted(folder.rglob("model.bin"))
    if not bins:
        raise CrossforceError(f"{name}: no CTranslate2 model.bin inside; convert the model "
                              "with ct2-opus-mt-converter or use an Argos .argosmodel")
    ct2 = bins[0].parent
    for src, tgt in SPM_PAIRS:
        for place in (ct2, ct2.parent):
            if (place / src).is_file() and (place / tgt).is_file():
                now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
                return ModelInfo(
                    id=entry["id"], sha256=digest, source=tuple(entry["source"]),
                    target=str(entry["target"]),
                    ct2_dir=ct2.relative_to(folder).as_posix(),
                    spm_source=(place / src).relative_to(folder).as_posix(),
                    spm_target=(place / tgt).relative_to(folder).as_posix(),
                    imported_at=now, file=name, files_sha256=sha256_path(folder),
                    licence=str(entry.get("licence", "")),
                    description=str(entry.get("description", "")))
    raise CrossforceError(f"{name}: no SentencePiece model beside model.bin (source.spm and "
                          "target.spm, or sentencepiece.model)")


def list_models(node_dir: Path) -> list[ModelInfo]:
    root = Path(node_dir) / MODELS_DIR
    if not root.is_dir():
        return []
    return [load_model(node_dir, p.parent.name) for p in sorted(root.glob(f"*/{INFO_FILE}"))]


def load_model(node_dir: Path, model_id: str) -> ModelInfo:
    info = Path(node_dir) / MODELS_DIR / model_id / INFO_FILE
    if not info.is_file():
        known = ", ".join(m.id for m in list_models(node_dir)) or "none yet"
        raise CrossforceError(f"no imported model {model_id!r} (imported: {known}); import "
                              "one with crossforce node models import PATH --manifest FILE")
    data = json.loads(info.read_text())
    data["source"] = tuple(data["source"])
    return ModelInfo(**data)


def intact(node_dir: Path, info: ModelInfo) -> bool:
    """Are the model's files still those imported (same folder hash)?"""
    folder = info.folder(node_dir)
    return folder.is_dir() and sha256_path(folder, exclude=INFO_FILE) == info.files_sha256
