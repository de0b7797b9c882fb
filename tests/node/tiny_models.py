"""A tiny CTranslate2 model and SentencePiece model built on the spot, for the tests (and
for trying `node models import` / `node translate --backend ctranslate2` by hand): random
weights from numpy, a vocabulary trained on a few sentences. It translates through the
real engine and writes nonsense — the plumbing is what it tests, never quality.

    python tests/node/tiny_models.py OUT_FOLDER   # writes OUT_FOLDER/tiny-ur-en/ and
                                                  # OUT_FOLDER/manifest.toml
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np

SENTENCES = ["kya haal hai bhai", "paise kab doge yaar", "where are you now",
             "call me tonight at the flat", "تم کہاں ہو مجھے فون کرو", "پیسے کب دو گے",
             "gdzie jestes teraz", "meet at the usual place", "bring the car round"]
DIM, FFN = 16, 32


def sentencepiece_model(sentences: list[str] = SENTENCES, vocab_size: int = 80) -> bytes:
    """A unigram SentencePiece model trained on ``sentences`` (bytes of the .model file)."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences * 20), model_writer=buf, vocab_size=vocab_size,
        model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
        minloglevel=2)
    return buf.getvalue()


def ctranslate2_model(folder: Path, vocabulary: list[str], seed: int = 1) -> None:
    """A 1+1-layer Transformer with random weights saved as a CTranslate2 model."""
    from ctranslate2.specs import TransformerSpec
    from ctranslate2.specs.model_spec import visit_spec

    rng = np.random.default_rng(seed)
    v = len(vocabulary)
    shapes = {"embeddings_0/weight": (v, DIM), "embeddings/weight": (v, DIM),
              "projection/weight": (v, DIM), "self_attention/linear_0/weight": (3 * DIM, DIM),
              "self_attention/linear_1/weight": (DIM, DIM),
              "attention/linear_0/weight": (DIM, DIM),
              "attention/linear_1/weight": (2 * DIM, DIM),
              "attention/linear_2/weight": (DIM, DIM),
              "ffn/linear_0/weight": (FFN, DIM), "ffn/linear_1/weight": (DIM, FFN)}
    spec = TransformerSpec.from_config((1, 1), 2)

    def fill(layer: object, scope: str, value: object) -> None:
        if value is not None:
            return
        attr = scope.rsplit("/", 1)[-1]
        if attr == "gamma":
            new = np.ones(DIM, np.float32)
        elif attr == "beta":
            new = np.zeros(DIM, np.float32)
        else:
            shape = next(s for k, s in shapes.items() if scope.endswith(k))
            new = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        setattr(layer, attr, new)

    visit_spec(spec, fill)
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    spec.save(str(folder))


def opus_mt_folder(folder: Path) -> Path:
    """A folder as an OPUS-MT conversion leaves it: model.bin + source.spm + target.spm."""
    import sentencepiece as spm

    model = sentencepiece_model()
    sp = spm.SentencePieceProcessor(model_proto=model)
    vocabulary = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    folder.mkdir(parents=True)
    ctranslate2_model(folder, vocabulary)
    (folder / "source.spm").write_bytes(model)
    (folder / "target.spm").write_bytes(model)
    return folder


def argos_package(path: Path) -> Path:
    """An .argosmodel zip as Argos Translate packs it: <pkg>/model/, <pkg>/sentencepiece.model,
    <pkg>/metadata.json."""
    inner = opus_mt_folder(path.with_suffix(".build") / "model")
    with zipfile.ZipFile(path, "w") as z:
        for f in sorted(inner.iterdir()):
            if f.suffix != ".spm":
                z.write(f, f"translate-ur_en/model/{f.name}")
        z.write(inner / "source.spm", "translate-ur_en/sentencepiece.model")
        z.writestr("translate-ur_en/metadata.json",
                   '{"from_code": "ur", "to_code": "en", "package_version": "0.0"}')
    return path


def manifest(entries: list[tuple[str, str, list[str]]]) -> str:
    """Manifest TOML for (id, sha256, source languages) entries, target English."""
    return "".join(f'[[model]]\nid = "{i}"\nsha256 = "{h}"\nsource = {src!r}\n'
                   'target = "en"\nlicence = "test only"\n\n'.replace("'", '"')
                   for i, h, src in entries)


if __name__ == "__main__":
    from node.language.models import sha256_path

    out = Path(sys.argv[1])
    folder = opus_mt_folder(out / "tiny-ur-en")
    (out / "manifest.toml").write_text(manifest([("tiny-ur-en", sha256_path(folder),
                                                  ["ur", "pl"])]))
    print(f"wrote {folder} and {out / 'manifest.toml'} (random weights: nonsense output)")
