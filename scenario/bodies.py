"""Message bodies in the languages of the phone owner's community, and their true language.

A seized phone's owner belongs to a community (read from the family name their record was
drawn from); a phone of a community with its own languages (scenario.phrases) writes most
of its personal, network and victim messages in one of them, the rest in English textese.
Taxi and takeaway messages, and the "new number save it" of a handover, stay English.
Drawn from their own random stream, so every other column is the same as without them.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pyarrow as pa

from scenario.names import pools
from scenario.phrases import COMMUNITY_LANGUAGES, MIXED_ENGLISH, OTHER_LANGUAGES, PHRASES

#: stream number of this module's random generator: [seed, force index, STREAM]
STREAM = 19
ENGLISH = "en"


@cache
def _community_of_family() -> dict[str, str]:
    """Family name → the first community whose name pool holds it."""
    out: dict[str, str] = {}
    for cp in pools().communities:
        for name in cp.family.tolist():
            out.setdefault(str(name), cp.community.name)
    return out


def device_languages(rng: np.random.Generator, families: list[str]) -> np.ndarray:
    """Per device: the language its owner writes besides English, or None."""
    known = _community_of_family()
    out = np.full(len(families), None, dtype=object)
    draws = rng.random(len(families))
    for d, family in enumerate(families):
        mix = COMMUNITY_LANGUAGES.get(known.get(family, "white_british"), {}) \
            or OTHER_LANGUAGES
        tags = list(mix)
        edges = np.cumsum([mix[t] for t in tags])
        if draws[d] < edges[-1]:
            out[d] = tags[int(np.searchsorted(edges, draws[d], side="right"))]
    return out


def foreign_bodies(seed: int, force_index: int, families: list[str], m_dev: np.ndarray,
                   english_only: np.ndarray, body: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(bodies, true BCP-47 tag per message). ``families``: each device owner's family name;
    ``m_dev``: each message's device; ``english_only``: messages that stay as written."""
    rng = np.random.default_rng([seed, force_index, STREAM])
    lang = device_languages(rng, families)[m_dev]
    foreign = (lang != None) & ~english_only & (rng.random(len(m_dev)) >= MIXED_ENGLISH)  # noqa: E711
    pick = rng.random(len(m_dev))
    body = body.copy()
    truth = np.full(len(m_dev), ENGLISH, dtype=object)
    for tag, phrases in PHRASES.items():
        sel = np.flatnonzero(foreign & (lang == tag))
        if len(sel):
            pool = np.array(phrases, dtype=object)
            body[sel] = pool[(pick[sel] * len(pool)).astype(np.int64)]
            truth[sel] = tag
    return body, truth


def truth_table(force: str, device_ids: np.ndarray, message_ids: np.ndarray,
                truth: np.ndarray) -> pa.Table:
    """truth/languages.csv rows: the language each generated message was written in."""
    return pa.table({"force": pa.array(np.full(len(truth), force, dtype=object), pa.string()),
                     "device_id": pa.array(device_ids, pa.string()),
                     "message_id": pa.array(message_ids, pa.string()),
                     "language": pa.array(truth, pa.string())})
