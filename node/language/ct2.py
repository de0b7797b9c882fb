"""The ``ctranslate2`` backend: a force's imported models run on the node's CPU, offline.

A model folder holds a CTranslate2 model (model.bin) and its SentencePiece model(s) — an
OPUS-MT conversion or an Argos Translate package (node.language.models). A body longer
than the model reads (``max_input_tokens`` pieces) is cut there and marked ``truncated``.
Roman Urdu (``ur-Latn``) goes to an Urdu model after word-by-word transliteration to Urdu
script with romanalfaz's bundled lexicon (words it does not know stay as written).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from federation.errors import CrossforceError
from node.language.models import ModelInfo, intact, list_models, load_model
from node.language.romanised import words
from node.language.translate import MACHINE, MACHINE_LABEL, Output, Translator

#: romanised tags whose text a model of the base language reads after transliteration
TRANSLITERATE = {"ur-Latn": "ur"}


class CT2Translator:
    """One imported model: SentencePiece in, CTranslate2 (beam search, CPU), SentencePiece out."""

    backend = "ctranslate2"
    status = MACHINE
    label = MACHINE_LABEL

    def __init__(self, node_dir: Path, info: ModelInfo, max_input_tokens: int = 256,
                 transliterate: bool = False, beam_size: int = 2, threads: int = 2) -> None:
        import ctranslate2
        import sentencepiece as spm

        folder = info.folder(node_dir)
        self.model_id, self.model_sha256 = info.id, info.sha256
        self.max_input_tokens, self.beam_size = max_input_tokens, beam_size
        self.transliterate = transliterate
        self.engine = ctranslate2.Translator(str(folder / info.ct2_dir), device="cpu",
                                             inter_threads=1, intra_threads=threads)
        self.source = spm.SentencePieceProcessor(model_file=str(folder / info.spm_source))
        self.target = spm.SentencePieceProcessor(model_file=str(folder / info.spm_target))

    def translate(self, bodies: Sequence[str]) -> list[Output]:
        inputs = [roman_urdu_to_urdu(b) if self.transliterate else b for b in bodies]
        pieces = [self.source.encode(" ".join(t.split()), out_type=str) for t in inputs]
        cut = [len(p) > self.max_input_tokens for p in pieces]
        pieces = [p[:self.max_input_tokens] for p in pieces]
        results = self.engine.translate_batch(
            pieces, beam_size=self.beam_size, max_batch_size=len(pieces),
            max_decoding_length=2 * max(map(len, pieces), default=1) + 8)
        return [Output(self.target.decode(r.hypotheses[0]),
                       inp if inp != body else None, c)
                for r, inp, body, c in zip(results, inputs, bodies, cut, strict=True)]


class ModelsBackend:
    """Every imported model (or only ``--model``), each for the languages it reads."""

    name = "ctranslate2"

    def __init__(self, node_dir: Path, model: str | None, max_input_tokens: int) -> None:
        self.node_dir, self.max_input_tokens = Path(node_dir), max_input_tokens
        self.models = [load_model(node_dir, model)] if model else list_models(node_dir)
        if not self.models:
            raise CrossforceError(
                f"{node_dir}: no translation model imported. No model ships with "
                "crossforce: import one the force has approved with crossforce node models "
                "import PATH --manifest FILE --dir DIR (or use --backend none to queue "
                "messages for a translator)")
        self._open: dict[tuple[str, bool], CT2Translator] = {}

    def for_language(self, language: str) -> Translator | None:
        for info in self.models:
            for tag, via in ((language, False), (TRANSLITERATE.get(language), True)):
                if tag and tag in info.source:
                    return self._translator(info, via)
        return None

    def _translator(self, info: ModelInfo, transliterate: bool) -> CT2Translator:
        key = (info.id, transliterate)
        if key not in self._open:
            if not intact(self.node_dir, info):
                raise CrossforceError(f"model {info.id!r}: its files changed since import "
                                      "(hash differs); import it again from the approved "
                                      "file")
            self._open[key] = CT2Translator(self.node_dir, info, self.max_input_tokens,
                                            transliterate)
        return self._open[key]


@cache
def _lexicon() -> Any:
    from romanalfaz import RomanAlfaz

    return RomanAlfaz()


def roman_urdu_to_urdu(text: str) -> str:
    """Roman Urdu → Urdu script, word by word (exact matches of romanalfaz's lexicon; a
    word it does not know — an English word, a name — stays as written)."""
    lexicon = _lexicon()
    out = []
    for w in words(text):
        best = lexicon.getBestMatch(w)
        out.append(best.arabic if best else w)
    return " ".join(out)
